import GRPCCore
import Synchronization

/// A stream's request parts, handed from its connection's event loop to the task that runs the
/// call: the event loop pushes, the task awaits. Taking a message reports its size back, so the
/// connection can open the peer's flow-control window by as much.
final class InboundParts: AsyncSequence, Sendable {
  typealias Element = RPCRequestPart<[UInt8]>
  typealias Failure = any Error
  private typealias Outcome = Result<Element?, any Error>

  private struct State {
    var parts: [Element] = []
    var next = 0
    /// How the stream ended, once it has: `.success(nil)` for a clean end.
    var end: Outcome?
    var waiter: CheckedContinuation<Outcome, Never>?
  }

  private let state = Mutex(State())
  private let onTake: @Sendable (_ bytes: Int) -> Void

  /// - Parameter onTake: called on the consuming task with the size of each message taken.
  init(onTake: @escaping @Sendable (_ bytes: Int) -> Void) {
    self.onTake = onTake
  }

  /// Queues a part (event loop).
  func push(_ part: Element) {
    let waiter = state.withLock { state -> CheckedContinuation<Outcome, Never>? in
      guard state.end == nil else { return nil }
      guard let waiter = state.waiter else {
        state.parts.append(part)
        return nil
      }
      state.waiter = nil
      return waiter
    }
    waiter?.resume(returning: .success(part))
  }

  /// Ends the parts: cleanly with nil, or with the error the consumer sees after the parts already
  /// queued (event loop). Only the first end counts.
  func finish(_ error: (any Error)? = nil) {
    end(error.map { .failure($0) } ?? .success(nil), dropQueued: false)
  }

  /// Ends the parts at once, dropping what is queued: the stream is gone (a reset, a refusal).
  func abort(_ error: any Error) {
    end(.failure(error), dropQueued: true)
  }

  private func end(_ outcome: Outcome, dropQueued: Bool) {
    let waiter = state.withLock { state -> CheckedContinuation<Outcome, Never>? in
      if dropQueued {
        state.parts.removeAll()
        state.next = 0
      } else if state.end != nil {
        return nil
      }
      state.end = outcome
      defer { state.waiter = nil }
      return state.waiter
    }
    waiter?.resume(returning: outcome)
  }

  func makeAsyncIterator() -> Iterator {
    Iterator(parts: self)
  }

  struct Iterator: AsyncIteratorProtocol {
    let parts: InboundParts

    func next() async throws -> Element? {
      try await parts.take()
    }
  }

  private func take() async throws -> Element? {
    // Most parts are queued before the consumer asks: no suspension then.
    if let ready = state.withLock({ Self.takeQueued(&$0) }) { return try delivered(ready) }
    let outcome: Outcome = await withCheckedContinuation { continuation in
      let ready = state.withLock { state -> Outcome? in
        if let ready = Self.takeQueued(&state) { return ready }
        state.waiter = continuation
        return nil
      }
      if let ready { continuation.resume(returning: ready) }
    }
    return try delivered(outcome)
  }

  private func delivered(_ outcome: Outcome) throws -> Element? {
    if case .success(.message(let bytes)) = outcome { onTake(bytes.count) }
    return try outcome.get()
  }

  /// The next queued part, or how the stream ended once nothing is queued; nil to wait.
  private static func takeQueued(_ state: inout State) -> Outcome? {
    if state.next < state.parts.count {
      let part = state.parts[state.next]
      state.next += 1
      if state.next == state.parts.count {
        state.parts.removeAll(keepingCapacity: true)
        state.next = 0
      }
      return .success(part)
    }
    return state.end
  }
}
