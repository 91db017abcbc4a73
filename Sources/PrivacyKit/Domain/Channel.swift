/// Where a piece of personal data, a decision or a request came from (privacy.common.v1.Channel).
public enum Channel: String, Sendable, CaseIterable {
  case webform
  case `import`
  case manual
  case api
  case integration
  case preferencePage = "preference_page"
  case emailLink = "email_link"
  case email
  case phone
  case post
}

/// Who performed an action (privacy.common.v1.ActorKind).
public enum ActorKind: String, Sendable, CaseIterable {
  case unspecified
  case subject
  case guardian
  case staff
  case system
  case integration
}

/// The outcome of recomputing a hash-chained log.
public struct ChainVerification: Sendable, Equatable {
  public var valid: Bool
  public var entriesChecked: UInt64
  /// The first entry that does not verify; nil when valid.
  public var firstBrokenSequence: UInt64?
  public var problem: String
  public var headHash: String

  public init(valid: Bool, entriesChecked: UInt64, firstBrokenSequence: UInt64?, problem: String, headHash: String) {
    self.valid = valid
    self.entriesChecked = entriesChecked
    self.firstBrokenSequence = firstBrokenSequence
    self.problem = problem
    self.headHash = headHash
  }
}
