public import Foundation

/// What an identifier is; decides how its value is normalized before hashing
/// (privacy.blocklist.v1.IdentifierKind).
public enum IdentifierKind: String, Sendable, CaseIterable {
  case email
  case phone
  case nationalID = "national_id"
  case custom

  /// The label hashed in front of the value (`EMAIL:anna@example.com`), so equal strings of
  /// different kinds never collide. The proto enum's name without prefix.
  public var hashLabel: String {
    switch self {
    case .email: "EMAIL"
    case .phone: "PHONE"
    case .nationalID: "NATIONAL_ID"
    case .custom: "CUSTOM"
    }
  }
}

/// An identifier after normalization: the only form that is ever hashed. It exists in memory for
/// the duration of one call and is never stored, logged or returned.
public struct NormalizedIdentifier: Sendable, Hashable {
  public let kind: IdentifierKind
  public let value: String

  init(kind: IdentifierKind, value: String) {
    self.kind = kind
    self.value = value
  }

  /// The bytes the keyed hash covers: `<KIND>:<normalized value>`.
  public var hashInput: Data { Data("\(kind.hashLabel):\(value)".utf8) }
}
