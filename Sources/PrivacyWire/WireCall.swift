import GRPCCore
import Synchronization

/// One dispatched call as both sides see it: the connection's event loop feeds `inbound` and
/// drains `writer`; the task running the call reads and writes them.
final class WireCall: Sendable {
  let descriptor: MethodDescriptor
  let remotePeer: String
  let localPeer: String
  let inbound: InboundParts
  let writer: ResponseWriter
  /// Request bytes this stream holds, counted by both sides.
  let held: HeldBytes
  private let cancellation = Mutex<(handle: ServerContext.RPCCancellationHandle?, cancelled: Bool)>((nil, false))

  init(
    descriptor: MethodDescriptor, remotePeer: String, localPeer: String, held: HeldBytes, inbound: InboundParts,
    writer: ResponseWriter
  ) {
    self.held = held
    self.descriptor = descriptor
    self.remotePeer = remotePeer
    self.localPeer = localPeer
    self.inbound = inbound
    self.writer = writer
  }

  /// The stream as GRPCCore takes it.
  var stream: RPCStream<RPCAsyncSequence<RPCRequestPart<[UInt8]>, any Error>, RPCWriter<RPCResponsePart<[UInt8]>>.Closable> {
    RPCStream(descriptor: descriptor, inbound: RPCAsyncSequence(wrapping: inbound), outbound: RPCWriter.Closable(wrapping: writer))
  }

  /// The task running the call has its handle; a cancellation that came first applies now.
  func attach(_ handle: ServerContext.RPCCancellationHandle) {
    let cancelled = cancellation.withLock { state in
      state.handle = handle
      return state.cancelled
    }
    if cancelled { handle.cancel() }
  }

  /// The peer reset the stream or the connection died: the call's task is cancelled.
  func cancel() {
    let handle = cancellation.withLock { state in
      state.cancelled = true
      return state.handle
    }
    handle?.cancel()
  }
}

/// Request bytes a stream holds: received, not yet taken by its call.
final class HeldBytes: Sendable {
  private let count = Atomic<Int>(0)

  @discardableResult
  func add(_ bytes: Int) -> Int { count.add(bytes, ordering: .relaxed).newValue }

  func subtract(_ bytes: Int) { count.subtract(bytes, ordering: .relaxed) }

  /// What is held, and nothing any more.
  func takeAll() -> Int { count.exchange(0, ordering: .relaxed) }

  var value: Int { count.load(ordering: .relaxed) }
}
