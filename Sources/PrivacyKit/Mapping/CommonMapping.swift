public import PrivacyProtocol
public import SwiftProtobuf
public import Foundation

// Proto <-> domain for the shared types of privacy.common.v1.

extension Channel {
  /// The domain channel; nil for CHANNEL_UNSPECIFIED or an unknown value.
  public init?(_ proto: Privacy_Common_V1_Channel) {
    switch proto {
    case .webform: self = .webform
    case .import: self = .import
    case .manual: self = .manual
    case .api: self = .api
    case .integration: self = .integration
    case .preferencePage: self = .preferencePage
    case .emailLink: self = .emailLink
    case .email: self = .email
    case .phone: self = .phone
    case .post: self = .post
    case .unspecified, .UNRECOGNIZED: return nil
    }
  }

  public var proto: Privacy_Common_V1_Channel {
    switch self {
    case .webform: .webform
    case .import: .import
    case .manual: .manual
    case .api: .api
    case .integration: .integration
    case .preferencePage: .preferencePage
    case .emailLink: .emailLink
    case .email: .email
    case .phone: .phone
    case .post: .post
    }
  }
}

extension ActorKind {
  public init(_ proto: Privacy_Common_V1_ActorKind) {
    switch proto {
    case .subject: self = .subject
    case .guardian: self = .guardian
    case .staff: self = .staff
    case .system: self = .system
    case .integration: self = .integration
    case .unspecified, .UNRECOGNIZED: self = .unspecified
    }
  }

  public var proto: Privacy_Common_V1_ActorKind {
    switch self {
    case .unspecified: .unspecified
    case .subject: .subject
    case .guardian: .guardian
    case .staff: .staff
    case .system: .system
    case .integration: .integration
    }
  }
}

extension Mask {
  /// The domain mask; nil for MASK_UNSPECIFIED or an unknown value.
  public init?(_ proto: Privacy_Vault_V1_Mask) {
    switch proto {
    case .none: self = .none
    case .last4: self = .last4
    case .email: self = .email
    case .full: self = .full
    case .unspecified, .UNRECOGNIZED: return nil
    }
  }

  public var proto: Privacy_Vault_V1_Mask {
    switch self {
    case .none: .none
    case .last4: .last4
    case .email: .email
    case .full: .full
    }
  }
}

extension ChainVerification {
  public var proto: Privacy_Common_V1_ChainVerification {
    .with {
      $0.valid = valid
      $0.entriesChecked = entriesChecked
      $0.firstBrokenSequence = firstBrokenSequence ?? 0
      $0.problem = problem
      $0.headHash = headHash
    }
  }
}

extension Date {
  public var protoTimestamp: Google_Protobuf_Timestamp { Google_Protobuf_Timestamp(date: self) }
}

extension Google_Protobuf_Timestamp {
  /// Within years 1-9999 with nanoseconds below one second, as the Timestamp type requires.
  public var isWellFormed: Bool {
    (-62_135_596_800...253_402_300_799).contains(seconds) && (0..<1_000_000_000).contains(nanos)
  }

  /// The instant, or nil when the field was not set (all zero).
  public var dateIfSet: Date? {
    seconds == 0 && nanos == 0 ? nil : date
  }
}

extension OutboxDelivery {
  public var proto: Privacy_Common_V1_OutboxDelivery {
    .with {
      $0.attempts = UInt32(clamping: attempts)
      if let nextAttemptAt { $0.nextAttemptAt = nextAttemptAt.protoTimestamp }
      if let leasedUntil { $0.leasedUntil = leasedUntil.protoTimestamp }
      if let failedAt { $0.failedAt = failedAt.protoTimestamp }
      $0.lastFailure = lastFailure
    }
  }
}

extension OutboxFilter {
  /// What a ListOutbox request asks for.
  public init(includeAcked: Bool, failedOnly: Bool) {
    self = failedOnly ? .failed : includeAcked ? .all : .pending
  }
}

extension Google_Protobuf_Timestamp {
  /// The instant of an optional field, checked: nil when not set.
  public func checkedDate(isSet: Bool, field: String) throws(InvalidArgument) -> Date? {
    guard isSet else { return nil }
    guard isWellFormed else { throw InvalidArgument("\(field) is not a valid time") }
    return date
  }
}
