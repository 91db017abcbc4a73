import Foundation
import Synchronization

/// Fixed-window request limits per key (a client address, a link token's hash): at most `limit`
/// requests per `window`. Memory is bounded: windows that ended are dropped as new ones open, and
/// past `maxKeys` keys every new key is refused until the window turns (a flood of addresses
/// cannot grow the table).
final class RateLimiter: Sendable {
  private struct Window {
    var started: ContinuousClock.Instant
    var counts: [String: Int] = [:]
  }

  private let limit: Int
  private let window: Duration
  private let maxKeys: Int
  private let state: Mutex<Window>

  init(limit: Int, window: Duration = .seconds(60), maxKeys: Int = 100_000) {
    self.limit = limit
    self.window = window
    self.maxKeys = maxKeys
    state = Mutex(Window(started: .now))
  }

  /// Counts a request for `key`; false when over the limit.
  func admit(_ key: String, now: ContinuousClock.Instant = .now) -> Bool {
    state.withLock { state in
      if now - state.started >= window { state = Window(started: now) }
      let count = state.counts[key, default: 0]
      guard count < limit, count > 0 || state.counts.count < maxKeys else { return false }
      state.counts[key] = count + 1
      return true
    }
  }
}
