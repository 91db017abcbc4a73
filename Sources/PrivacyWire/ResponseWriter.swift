import GRPCCore
import NIOCore
import Synchronization

/// Where a call's response parts go: the task running the call writes, the connection's event
/// loop puts the parts on the wire. A writer waits while more than `highWater` bytes of its
/// response are queued and not yet sent (a slow reader), so a server stream cannot fill memory.
final class ResponseWriter: ClosableRPCWriterProtocol, Sendable {
  typealias Element = RPCResponsePart<[UInt8]>

  static let highWater = 1 << 20
  static let lowWater = 256 << 10

  private struct State {
    var queued = 0
    var closed = false
    var waiter: CheckedContinuation<Void, Never>?
  }

  private let state = Mutex(State())
  private let deliver: @Sendable (Element) -> Void
  private let end: @Sendable (_ failed: Bool) -> Void

  /// - Parameters:
  ///   - deliver: hands a part to the connection (it hops to the event loop itself).
  ///   - end: the call's writer finished, or failed, without more parts.
  init(deliver: @escaping @Sendable (Element) -> Void, end: @escaping @Sendable (_ failed: Bool) -> Void) {
    self.deliver = deliver
    self.end = end
  }

  func write(_ part: Element) async throws {
    let size: Int
    if case .message(let bytes) = part { size = bytes.count + 5 } else { size = 0 }
    let mustWait = try state.withLock { state throws(RPCError) -> Bool in
      guard !state.closed else { throw RPCError(code: .cancelled, message: "the stream is closed") }
      state.queued += size
      return state.queued > Self.highWater
    }
    deliver(part)
    if mustWait {
      await withCheckedContinuation { continuation in
        let ready = state.withLock { state -> Bool in
          guard !state.closed, state.queued > Self.lowWater else { return true }
          state.waiter = continuation
          return false
        }
        if ready { continuation.resume() }
      }
    }
  }

  func write(contentsOf elements: some Sequence<Element>) async throws {
    for element in elements { try await write(element) }
  }

  func finish() async {
    end(false)
  }

  func finish(throwing error: any Error) async {
    end(true)
  }

  /// `count` queued bytes went to the wire (event loop).
  func sent(_ count: Int) {
    let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
      state.queued -= count
      guard state.queued <= Self.lowWater else { return nil }
      defer { state.waiter = nil }
      return state.waiter
    }
    waiter?.resume()
  }

  /// The stream is gone: later writes fail, a waiting write returns (event loop).
  func close() {
    let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
      state.closed = true
      defer { state.waiter = nil }
      return state.waiter
    }
    waiter?.resume()
  }
}
