import Synchronization

/// Request bytes a connection holds for its calls (received, not yet taken by a call), so a peer
/// cannot make the server hold more than a stream's or the connection's budget: bytes beyond
/// them are not acknowledged (the peer's HTTP/2 flow-control window stays shut) until calls take
/// what they were sent. Counted from the event loop (receipt) and the calls' tasks (taking).
final class RequestBudget: Sendable {
  /// Held at most per stream before its window stays shut: one whole message and a frame more.
  let perStream: Int
  /// Held at most by the connection across its streams.
  let perConnection: Int

  private let held = Atomic<Int>(0)
  /// Whether some stream of the connection has bytes not yet acknowledged.
  private let owing = Atomic<Bool>(false)

  init(perStream: Int, perConnection: Int) {
    self.perStream = perStream
    self.perConnection = perConnection
  }

  /// Counts `count` received bytes of a stream now holding `streamHeld`; true when they may be
  /// acknowledged at once.
  func received(_ count: Int, streamHeld: Int) -> Bool {
    let total = held.add(count, ordering: .relaxed).newValue
    guard streamHeld <= perStream, total <= perConnection else {
      owing.store(true, ordering: .relaxed)
      return false
    }
    return true
  }

  /// A call took `count` bytes; true when some stream is owed an acknowledgement.
  func taken(_ count: Int) -> Bool {
    held.subtract(count, ordering: .relaxed)
    return owing.load(ordering: .relaxed)
  }

  /// Discarded bytes (a refused or failed stream) no longer count.
  func released(_ count: Int) {
    held.subtract(count, ordering: .relaxed)
  }

  /// Whether a stream holding `streamHeld` may have its owed bytes acknowledged now.
  func mayAcknowledge(streamHeld: Int) -> Bool {
    streamHeld <= perStream && held.load(ordering: .relaxed) <= perConnection
  }

  /// No stream is owed any more (event loop, after acknowledging them all).
  func settled() {
    owing.store(false, ordering: .relaxed)
  }
}
