/// How long to wait before trying again: the first delay, then twice the last one after each
/// failure, at most `ceiling`; a success starts over.
public struct Backoff: Sendable {
  private let first: Duration
  private let ceiling: Duration
  /// The delay the next failure waits.
  public private(set) var delay: Duration

  public init(first: Duration = .milliseconds(100), ceiling: Duration) {
    self.first = first
    self.ceiling = ceiling
    self.delay = first
  }

  /// The delay to wait now; the one after is twice as long.
  public mutating func next() -> Duration {
    defer { delay = min(delay * 2, ceiling) }
    return delay
  }

  public mutating func reset() { delay = first }
}
