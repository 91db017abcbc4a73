public import Foundation

/// When a message that was not delivered is tried again: exponential backoff from `base`
/// (doubling each attempt, at most `ceiling`), and failed for good after `maxAttempts` attempts
/// or at once on a permanent refusal.
public struct RetryPolicy: Sendable, Equatable {
  public var maxAttempts: Int
  public var base: Duration
  public var ceiling: Duration

  public init(maxAttempts: Int = 8, base: Duration = .seconds(60), ceiling: Duration = .seconds(6 * 3600)) {
    self.maxAttempts = maxAttempts
    self.base = base
    self.ceiling = ceiling
  }

  /// After the `attempt`-th attempt (1 for the first) failed: when to try again, or nil when the
  /// message has failed for good (a failure that is not `transient`, or the last attempt).
  public func retryAt(after attempt: Int, transient: Bool, now: Date) -> Date? {
    guard transient, attempt < maxAttempts else { return nil }
    let factor = Double(1 << min(attempt - 1, 30))
    let seconds = min(base.seconds * factor, ceiling.seconds)
    return now.addingTimeInterval(seconds)
  }
}

extension Duration {
  var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
