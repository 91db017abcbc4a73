public import Foundation

/// Where an outbox message's delivery stands, as the mail relay reported it. Shared by the
/// consent and rights outboxes, which a relay drains alike: lease the due messages, send each,
/// then acknowledge it or report its failure.
public struct OutboxDelivery: Sendable, Equatable {
  /// Failed attempts so far.
  public var attempts: Int
  /// When a transient failure lets the message be tried again; nil when due now.
  public var nextAttemptAt: Date?
  /// Until when a relay holds the message; nil when no lease runs or ran.
  public var leasedUntil: Date?
  /// When delivery failed for good; the message's address, body and links are wiped then.
  public var failedAt: Date?
  /// The last failure, addresses replaced by `[address]`.
  public var lastFailure: String

  public init(attempts: Int = 0, nextAttemptAt: Date? = nil, leasedUntil: Date? = nil, failedAt: Date? = nil, lastFailure: String = "") {
    self.attempts = attempts
    self.nextAttemptAt = nextAttemptAt?.microsecondPrecision
    self.leasedUntil = leasedUntil?.microsecondPrecision
    self.failedAt = failedAt?.microsecondPrecision
    self.lastFailure = lastFailure
  }

}

/// Which outbox messages a listing shows.
public enum OutboxFilter: Sendable {
  /// Neither acknowledged nor failed.
  case pending
  /// Every message.
  case all
  /// Failed for good.
  case failed
}

/// A LeaseOutbox request, checked.
public struct OutboxLease: Sendable {
  public var maxMessages: Int
  public var duration: Duration

  /// `maxMessages` 0 means 10 (at most 100); `leaseSeconds` 0 means 300 (1-3,600).
  public init(maxMessages: Int32, leaseSeconds: Int32) throws(InvalidArgument) {
    guard (0...100).contains(maxMessages) else { throw InvalidArgument("max_messages must be 0-100 (0: 10)") }
    guard (0...3600).contains(leaseSeconds) else { throw InvalidArgument("lease_seconds must be 0-3,600 (0: 300)") }
    self.maxMessages = maxMessages == 0 ? 10 : Int(maxMessages)
    self.duration = .seconds(leaseSeconds == 0 ? 300 : Int(leaseSeconds))
  }

  /// When a lease taken at `now` ends.
  public func end(from now: Date) -> Date {
    now.addingTimeInterval(TimeInterval(duration.components.seconds))
  }
}

/// A failed delivery attempt a relay reports, checked, with every address taken out of its text.
public struct OutboxFailureReport: Sendable {
  public var messageID: String
  /// The failure, each word holding an `@` replaced by `[address]`.
  public var failure: String
  /// When to try again; nil when delivery failed for good.
  public var retryAt: Date?

  public var isPermanent: Bool { retryAt == nil }

  /// `retryAt` nil or in the past means now; more than 30 days ahead is refused.
  public init(messageID: String, failure: String, permanent: Bool, retryAt: Date?, now: Date) throws(InvalidArgument) {
    self.messageID = try Validate.messageIDs([messageID], field: "message_id")[0]
    self.failure = Self.withoutAddresses(try Validate.requiredText(failure, field: "failure", maxLength: 512))
    if permanent {
      self.retryAt = nil
    } else {
      let retry = max(retryAt ?? now, now)
      guard retry.timeIntervalSince(now) <= 30 * 86_400 else { throw InvalidArgument("retry_at must be at most 30 days ahead") }
      self.retryAt = retry
    }
  }

  /// A mail server's reply often names the recipient ("550 5.1.1 <ann@example.org>: no such
  /// user"); what is kept must not.
  static func withoutAddresses(_ text: String) -> String {
    text.split(separator: " ", omittingEmptySubsequences: false)
      .map { $0.contains("@") ? "[address]" : String($0) }
      .joined(separator: " ")
  }
}
