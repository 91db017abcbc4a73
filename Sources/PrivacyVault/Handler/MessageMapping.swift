import Foundation
import PrivacyKit
import PrivacyProtocol
import SwiftProtobuf

// Proto <-> domain messages of privacy.vault.v1, and the request checks that turn bad input into
// INVALID_ARGUMENT naming the field (never quoting a value).

/// How far in the future a `captured_at` may be (clock skew between systems).
let allowedClockSkew: TimeInterval = 5 * 60

/// Largest value accepted by PutRecord, in UTF-8 bytes.
let maximumValueBytes = 65_536

extension GeneralizationRule {
  init(_ proto: Privacy_Vault_V1_GeneralizationRule, field: String) throws(InvalidArgument) {
    switch proto.rule {
    case .keepPrefix(let n)?:
      guard n >= 1 else { throw InvalidArgument("\(field).keep_prefix must be at least 1") }
      self = .keepPrefix(Int(n))
    case .yearOnly?:
      self = .yearOnly
    case .bucketWidth(let width)?:
      guard width >= 1 else { throw InvalidArgument("\(field).bucket_width must be at least 1") }
      self = .bucketWidth(width)
    case nil:
      throw InvalidArgument("\(field) must set exactly one rule: keep_prefix, year_only or bucket_width")
    }
  }

  var proto: Privacy_Vault_V1_GeneralizationRule {
    .with {
      switch self {
      case .keepPrefix(let n): $0.keepPrefix = Int32(clamping: n)
      case .yearOnly: $0.yearOnly = .init()
      case .bucketWidth(let width): $0.bucketWidth = width
      }
    }
  }
}

extension FieldDraft {
  init(_ request: Privacy_Vault_V1_UpsertFieldRequest) throws(InvalidArgument) {
    let name = try Validate.fieldName(request.name, field: "name")
    try Validate.knownEnum(request.classification, field: "classification")
    let classification = Classification(request.classification)
    try Validate.knownEnum(request.specialCategory, field: "special_category")
    try Validate.knownEnum(request.mask, field: "mask")
    var tags: [String] = []
    for tag in request.tags { tags.append(try Validate.fieldName(tag, field: "tags")) }
    guard Set(tags).count <= FieldTag.maximumCount else { throw InvalidArgument("tags must hold at most \(FieldTag.maximumCount) tags") }
    let rule = request.hasGeneralization ? try GeneralizationRule(request.generalization, field: "generalization") : nil
    self.init(
      name: name, classification: classification, specialCategory: SpecialCategory(request.specialCategory),
      criminalOffence: request.criminalOffence, mask: Mask(request.mask),
      encrypted: request.hasEncrypted ? request.encrypted : nil, searchable: request.searchable, tags: tags,
      generalization: rule, description: try Validate.optionalText(request.description_p, field: "description", maxLength: 500))
  }
}

extension FieldDefinition {
  var proto: Privacy_Vault_V1_FieldDefinition {
    .with {
      $0.name = name
      $0.classification = classification.proto
      $0.specialCategory = specialCategory?.proto ?? .unspecified
      $0.criminalOffence = criminalOffence
      $0.mask = mask.proto
      $0.encrypted = encrypted
      $0.searchable = searchable
      $0.tags = tags
      if let generalization { $0.generalization = generalization.proto }
      $0.description_p = description
      $0.createdAt = createdAt.protoTimestamp
      $0.updatedAt = updatedAt.protoTimestamp
    }
  }
}

extension ValueSource {
  /// Reads a source from PutRecord; output-only fields (actor, request id) are ignored.
  init(_ proto: Privacy_Vault_V1_ValueSource, now: Date) throws(InvalidArgument) {
    let channel = try Validate.requiredEnum(proto.channel, field: "source.channel", Channel.init)
    var capturedAt = now
    if proto.hasCapturedAt {
      guard proto.capturedAt.isWellFormed else { throw InvalidArgument("source.captured_at is not a valid timestamp") }
      capturedAt = proto.capturedAt.date
      guard capturedAt <= now.addingTimeInterval(allowedClockSkew) else {
        throw InvalidArgument("source.captured_at must not be in the future")
      }
    }
    try Validate.knownEnum(proto.actorKind, field: "source.actor_kind")
    self.init(
      channel: channel, formName: try Validate.optionalText(proto.formName, field: "source.form_name", maxLength: 200),
      ipAddress: try Validate.ipAddress(proto.ipAddress, field: "source.ip_address"), actorKind: ActorKind(proto.actorKind),
      capturedAt: capturedAt)
  }

  var proto: Privacy_Vault_V1_ValueSource {
    .with {
      $0.channel = channel.proto
      $0.formName = formName
      $0.ipAddress = ipAddress
      $0.actorKind = actorKind.proto
      $0.capturedAt = capturedAt.protoTimestamp
      $0.actor = actor
      $0.requestID = requestID
    }
  }
}

extension FieldView {
  var proto: Privacy_Vault_V1_FieldValue {
    .with {
      $0.name = definition.name
      $0.classification = definition.classification.proto
      $0.value = shownValue
      $0.masked = masked
      $0.mask = definition.mask.proto
      $0.updatedAt = entry.updatedAt.protoTimestamp
      if entry.value != nil, let source = entry.source { $0.source = source.proto }
      $0.locked = entry.locked
      $0.tags = definition.tags
      $0.generalized = entry.generalized
      $0.specialCategory = definition.specialCategory?.proto ?? .unspecified
      $0.criminalOffence = definition.criminalOffence
    }
  }
}

extension RecordView {
  var proto: Privacy_Vault_V1_Record {
    .with {
      $0.subjectID = state.subjectID
      $0.fields = fields.map(\.proto)
      if let restriction = state.restriction {
        $0.restricted = true
        $0.restrictionReason = restriction.reason
        $0.restrictedSince = restriction.since.protoTimestamp
      }
      if let erasure = state.erasure {
        $0.erased = true
        $0.erasedAt = erasure.erasedAt.protoTimestamp
        $0.erasureReason = erasure.reason
      }
      $0.pending = state.pending != nil
      if let review = state.humanReview {
        $0.humanReview = true
        $0.humanReviewReason = review.reason
        $0.humanReviewSince = review.since.protoTimestamp
      }
      $0.version = state.version
      $0.createdAt = state.createdAt.protoTimestamp
      $0.updatedAt = state.updatedAt.protoTimestamp
    }
  }
}

extension AccessLogEntry {
  var proto: Privacy_Vault_V1_AccessLogEntry {
    .with {
      $0.sequence = sequence
      $0.hash = hash
      $0.previousHash = sequence == 1 ? "" : previousHash
      $0.kind = kind.proto
      $0.subjectID = subjectID
      $0.field = field
      $0.actor = actor
      $0.role = role
      $0.reason = reason
      $0.requestID = requestID
      $0.detail = detail
      $0.occurredAt = occurredAt.protoTimestamp
    }
  }
}

extension KAnonymityCheck {
  var proto: Privacy_Vault_V1_KAnonymityCheck {
    .with {
      $0.outcome = outcome.proto
      $0.k = k
      $0.threshold = threshold
      $0.fields = fields.map { result in
        .with {
          $0.field = result.field
          $0.action = result.action.proto
          if let rule = result.rule { $0.rule = rule.proto }
        }
      }
    }
  }
}

extension AccessLogQuery {
  /// Reads the filters of ListAccessLog (paging is added by the caller); `scope` ties page
  /// tokens to them.
  init(_ request: Privacy_Vault_V1_ListAccessLogRequest) throws(InvalidArgument) {
    let subjectID = request.subjectID.isEmpty ? nil : try Validate.subjectID(request.subjectID)
    let actor = request.actor.isEmpty ? nil : request.actor
    guard (actor?.count ?? 0) <= 200 else { throw InvalidArgument("actor must be at most 200 characters") }
    let field = request.field.isEmpty ? nil : try Validate.fieldName(request.field, field: "field")
    var kinds: [AccessKind] = []
    for kind in request.kinds {
      kinds.append(try Validate.requiredEnum(kind, field: "kinds", AccessKind.init))
    }
    var start: Date?
    var end: Date?
    if request.hasStartTime {
      guard request.startTime.isWellFormed else { throw InvalidArgument("start_time is not a valid timestamp") }
      start = request.startTime.date
    }
    if request.hasEndTime {
      guard request.endTime.isWellFormed else { throw InvalidArgument("end_time is not a valid timestamp") }
      end = request.endTime.date
    }
    if let start, let end, end < start { throw InvalidArgument("end_time must not be before start_time") }
    self.init(
      subjectID: subjectID, actor: actor, field: field, kinds: Array(Set(kinds)).sorted { $0.rawValue < $1.rawValue },
      start: start, end: end, limit: 0)
  }

  /// A key that changes whenever a filter does, for page-token scopes.
  var scopeKey: String {
    var encoder = CanonicalEncoder()
    encoder.append(subjectID ?? "")
    encoder.append(actor ?? "")
    encoder.append(field ?? "")
    encoder.append(kinds.map(\.rawValue).joined(separator: ","))
    encoder.append(start.map { String(Microseconds($0).value) } ?? "")
    encoder.append(end.map { String(Microseconds($0).value) } ?? "")
    return encoder.sha256Hex
  }
}
