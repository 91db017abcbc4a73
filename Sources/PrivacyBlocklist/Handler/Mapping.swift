import Foundation
import PrivacyKit
import PrivacyProtocol

// Proto <-> domain of privacy.blocklist.v1, and the request checks that turn bad input into
// INVALID_ARGUMENT naming the field. Identifier values never appear in a message.

/// Most identifiers one Add, Check or Remove call takes.
let maximumIdentifiersPerCall = 1000

extension IdentifierKind {
  /// nil for IDENTIFIER_KIND_UNSPECIFIED or an unknown number.
  init?(_ proto: Privacy_Blocklist_V1_IdentifierKind) {
    switch proto {
    case .email: self = .email
    case .phone: self = .phone
    case .nationalID: self = .nationalID
    case .custom: self = .custom
    case .unspecified, .UNRECOGNIZED: return nil
    }
  }

  var proto: Privacy_Blocklist_V1_IdentifierKind {
    switch self {
    case .email: .email
    case .phone: .phone
    case .nationalID: .nationalID
    case .custom: .custom
    }
  }
}

/// The identifiers of a request, count and kinds checked (values are checked by normalization).
func identifierList(_ identifiers: [Privacy_Blocklist_V1_Identifier]) throws(InvalidArgument) -> [(kind: IdentifierKind, value: String)] {
  guard !identifiers.isEmpty else { throw InvalidArgument("identifiers is required (1-\(maximumIdentifiersPerCall))") }
  guard identifiers.count <= maximumIdentifiersPerCall else {
    throw InvalidArgument("identifiers holds \(identifiers.count) identifiers; at most \(maximumIdentifiersPerCall) per call")
  }
  var result: [(kind: IdentifierKind, value: String)] = []
  result.reserveCapacity(identifiers.count)
  for (index, identifier) in identifiers.enumerated() {
    let kind = try Validate.requiredEnum(identifier.kind, field: "identifiers[\(index)].kind", IdentifierKind.init)
    result.append((kind, identifier.value))
  }
  return result
}

extension BlocklistEntry {
  var proto: Privacy_Blocklist_V1_Entry {
    .with {
      $0.entryID = id
      $0.kind = kind.proto
      $0.hashPrefix = hashPrefix
      $0.pepperID = pepperID
      $0.reason = reason
      $0.requestID = requestID
      $0.addedAt = addedAt.protoTimestamp
      $0.addedBy = addedBy
      if let removal {
        $0.removed = true
        $0.removedAt = removal.at.protoTimestamp
        $0.removalReason = removal.reason
        $0.removedBy = removal.by
      }
    }
  }
}

extension EntryFilter {
  init(_ proto: Privacy_Blocklist_V1_ListFilter) throws(InvalidArgument) {
    self.init()
    for (index, kind) in proto.kinds.enumerated() {
      kinds.insert(try Validate.requiredEnum(kind, field: "filter.kinds[\(index)]", IdentifierKind.init))
    }
    includeRemoved = proto.includeRemoved
    if !proto.requestID.isEmpty {
      requestID = try requestIDField(proto.requestID, field: "filter.request_id")
    }
  }
}

/// A data-subject request id as the blocklist records it: up to 128 characters, no control
/// characters.
func requestIDField(_ value: String, field: String) throws(InvalidArgument) -> String {
  guard value.count <= 128 else { throw InvalidArgument("\(field) must be at most 128 characters") }
  guard !value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
    throw InvalidArgument("\(field) must not contain control characters")
  }
  return value
}
