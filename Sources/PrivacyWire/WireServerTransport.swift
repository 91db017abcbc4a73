public import GRPCCore
public import NIOCore
import NIOPosix
import Synchronization

/// A gRPC server transport on libnghttp2: SwiftNIO event loops read and write the sockets, one
/// nghttp2 session per connection speaks HTTP/2, and each request stream becomes a call that
/// GRPCCore runs in its own task, except for the methods answered on the event loop
/// (`EventLoopAnswer`).
public final class WireServerTransport: ServerTransport, Sendable {
  public typealias Bytes = [UInt8]

  /// Called for each accepted connection; a failed future closes it (a connection cap).
  public typealias AcceptHook = @Sendable (any Channel) -> EventLoopFuture<Void>
  /// Called when a connection opens its first stream.
  public typealias HandshakeHook = @Sendable (any Channel) -> Void

  private let host: String
  private let port: Int
  private let limits: WireLimits
  private let eventLoopAnswers: [MethodDescriptor: EventLoopAnswer]
  private let group: MultiThreadedEventLoopGroup
  private let onAccept: AcceptHook
  private let onHandshake: HandshakeHook

  private struct State {
    var listener: (any Channel)?
    var connections: [ObjectIdentifier: any Channel] = [:]
    var shuttingDown = false
    var calls: AsyncStream<WireCall>.Continuation?
    var boundPort: Result<Int, any Error>?
    var portWaiters: [CheckedContinuation<Int, any Error>] = []
  }

  private let state = Mutex(State())

  /// - Parameter eventLoopAnswers: the unary methods answered on the event loop, by method;
  ///   GRPCCore never sees their calls.
  public init(
    host: String, port: Int, eventLoops: Int, limits: WireLimits, eventLoopAnswers: [MethodDescriptor: EventLoopAnswer] = [:],
    onAccept: @escaping AcceptHook, onHandshake: @escaping HandshakeHook
  ) {
    self.host = host
    self.port = port
    self.limits = limits
    // A request's path names no RPC type, and generated descriptors carry one: keys drop it, or
    // a generated descriptor would never equal the one made from a request.
    self.eventLoopAnswers = Dictionary(
      eventLoopAnswers.map { (MethodDescriptor(service: $0.key.service, method: $0.key.method), $0.value) },
      uniquingKeysWith: { first, _ in first })
    self.group = MultiThreadedEventLoopGroup(numberOfThreads: eventLoops)
    self.onAccept = onAccept
    self.onHandshake = onHandshake
  }

  /// The port bound, once `listen` has bound it.
  public var boundPort: Int {
    get async throws {
      try await withCheckedThrowingContinuation { continuation in
        let ready = state.withLock { state -> Result<Int, any Error>? in
          if let bound = state.boundPort { return bound }
          state.portWaiters.append(continuation)
          return nil
        }
        if let ready { continuation.resume(with: ready) }
      }
    }
  }

  public func listen(
    streamHandler: @escaping @Sendable (_ stream: RPCStream<Inbound, Outbound>, _ context: ServerContext) async -> Void
  ) async throws {
    let (calls, callSink) = AsyncStream.makeStream(of: WireCall.self)
    state.withLock { $0.calls = callSink }
    let listener: any Channel
    do {
      listener = try await bootstrap(callSink).bind(host: host, port: port).get()
    } catch {
      setBound(.failure(error))
      try? await group.shutdownGracefully()
      throw error
    }
    let alreadyStopping = state.withLock { state in
      state.listener = listener
      return state.shuttingDown
    }
    setBound(.success(listener.localAddress?.port ?? port))
    if alreadyStopping { beginGracefulShutdown() }

    await withTaskCancellationHandler {
      await withDiscardingTaskGroup { tasks in
        for await call in calls {
          tasks.addTask {
            await withServerContextRPCCancellationHandle { handle in
              call.attach(handle)
              let context = ServerContext(
                descriptor: call.descriptor, remotePeer: call.remotePeer, localPeer: call.localPeer, cancellation: handle)
              await streamHandler(call.stream, context)
            }
          }
        }
      }
    } onCancel: {
      closeEverything()
    }
    try? await listener.close()
    try? await group.shutdownGracefully()
  }

  /// Stops accepting, asks every connection to drain; `listen` returns once all have closed and
  /// their calls have finished.
  public func beginGracefulShutdown() {
    let (listener, connections) = state.withLock { state in
      state.shuttingDown = true
      return (state.listener, Array(state.connections.values))
    }
    listener?.close(promise: nil)
    for connection in connections { connection.triggerUserOutboundEvent(WireDrain(), promise: nil) }
    finishIfDrained()
  }

  private func closeEverything() {
    let (listener, connections) = state.withLock { state in
      state.shuttingDown = true
      return (state.listener, Array(state.connections.values))
    }
    listener?.close(promise: nil)
    for connection in connections { connection.close(promise: nil) }
    finishIfDrained()
  }

  private func bootstrap(_ calls: AsyncStream<WireCall>.Continuation) -> ServerBootstrap {
    let limits = self.limits
    let eventLoopAnswers = self.eventLoopAnswers
    let onAccept = self.onAccept
    let onHandshake = self.onHandshake
    return ServerBootstrap(group: group)
      // A deep queue of connections waiting to be accepted, taken many at a time: under a flood
      // of connections a full queue drops new ones, whose clients then wait a second to retry.
      .serverChannelOption(.backlog, value: 4096)
      .serverChannelOption(.maxMessagesPerRead, value: 64)
      .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
      .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
      .childChannelInitializer { [self] channel in
        onAccept(channel).flatMapThrowing {
          guard self.track(channel) else { throw ShuttingDown() }
          try channel.pipeline.syncOperations.addHandler(
            WireConnection(limits: limits, eventLoopAnswers: eventLoopAnswers, dispatch: { calls.yield($0) }, onHandshake: onHandshake))
        }
      }
  }

  /// Registers an accepted connection until it closes; false when the server is stopping.
  private func track(_ channel: any Channel) -> Bool {
    let id = ObjectIdentifier(channel)
    let admitted = state.withLock { state -> Bool in
      guard !state.shuttingDown else { return false }
      state.connections[id] = channel
      return true
    }
    guard admitted else {
      channel.close(promise: nil)
      return false
    }
    channel.closeFuture.whenComplete { [self] _ in
      _ = state.withLock { $0.connections.removeValue(forKey: id) }
      finishIfDrained()
    }
    return true
  }

  /// Ends the stream of calls once the server stops and its last connection has closed.
  private func finishIfDrained() {
    let sink = state.withLock { state -> AsyncStream<WireCall>.Continuation? in
      guard state.shuttingDown, state.connections.isEmpty else { return nil }
      defer { state.calls = nil }
      return state.calls
    }
    sink?.finish()
  }

  private func setBound(_ result: Result<Int, any Error>) {
    let waiters = state.withLock { state in
      state.boundPort = result
      defer { state.portWaiters = [] }
      return state.portWaiters
    }
    for waiter in waiters { waiter.resume(with: result) }
  }

  struct ShuttingDown: Error {}
}
