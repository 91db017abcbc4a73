public import GRPCCore
import GRPCNIOTransportHTTP2
import PrivacyWire
public import Logging
public import ServiceLifecycle
import Synchronization

/// One service's gRPC server as a lifecycle service: binds, reports health, serves until a
/// graceful shutdown, then reports NOT_SERVING, ends long-lived streams and lets in-flight calls
/// finish before returning.
public struct PrivacyServer: Service {
  /// Largest request message accepted; bigger ones fail with RESOURCE_EXHAUSTED
  /// (`RequestGuardTransport`).
  public static let maxMessageBytes = 4 * 1024 * 1024
  /// The transport's hard cap, protecting memory; a message above it has its stream reset.
  static let transportMessageCap = 16 * 1024 * 1024
  /// Concurrent streams allowed per HTTP/2 connection.
  public static let maxConcurrentStreams = 256
  /// Largest request metadata (HTTP/2 header list) accepted; more is RESOURCE_EXHAUSTED.
  public static let maxMetadataBytes = 16_384

  /// Who may call the server's services.
  public enum Authentication: Sendable {
    /// The backends: the client certificate (mutual TLS) admits the gateway, and every call but
    /// health must also carry `INTERNAL_TOKEN` in `x-internal-token` when one is set (a plaintext
    /// local run with neither checks nothing).
    case internalToken
    /// The services authenticate their callers themselves (the gateway: API keys and JWTs), so
    /// the internal token is not asked of callers; the server may still hold it for its own
    /// calls to backends.
    case byServices
  }

  private let configuration: ServiceConfiguration
  private let services: [any RegistrableRPCService]
  private let streamingRequestMethods: Set<MethodDescriptor>
  private let synchronousMethods: [SynchronousMethod]
  private let serviceInterceptors: [any ServerInterceptor]
  private let health: HealthService
  private let reflection: ReflectionService
  private let authentication: Authentication
  private let companions: [any ServerCompanion]
  private let reloading: [ReloadingCertificate]
  private let onDrain: @Sendable () -> Void
  private let logger: Logger
  private let metrics: ServerMetrics?
  /// Where the server listens, once bound.
  public let address = ListeningAddress()
  /// Where the health-only port listens, once bound (with `HEALTH_PORT`).
  public let healthAddress = ListeningAddress()

  /// - Parameters:
  ///   - services: the gRPC services to host; health and reflection are added.
  ///   - serviceNames: their fully qualified names, reported by health.
  ///   - streamingRequestMethods: the services' methods whose clients stream requests; every other
  ///     method takes exactly one request message.
  ///   - synchronousMethods: the services' unary methods served without a task per call, which
  ///     answer from memory at once or reply later from any thread (`SynchronousMethod`); the
  ///     nghttp2 transport runs them on its event loops (the services implement them too, for the
  ///     nio transport).
  ///   - interceptors: the service's own, run after the common ones (and not on the fast path).
  ///   - authentication: who may call; backends require the internal token.
  ///   - companions: what runs alongside the server and stops only after it has drained, such as
  ///     the gateway's long-lived backend clients (in-flight calls still need them while draining).
  ///   - reloading: certificates besides the server's own to re-read while it serves, such as the
  ///     gateway's client certificate.
  ///   - replica: what keeps a replica's memory in step with the others (runs as a companion);
  ///     health reports NOT_SERVING while that memory is stale.
  ///   - onDrain: called when draining starts, to end the service's own long-lived streams.
  public init(
    configuration: ServiceConfiguration,
    services: [any RegistrableRPCService],
    serviceNames: [String],
    streamingRequestMethods: [MethodDescriptor] = [],
    synchronousMethods: [SynchronousMethod] = [],
    interceptors: [any ServerInterceptor] = [],
    authentication: Authentication = .internalToken,
    companions: [any ServerCompanion] = [],
    replica: ReplicaFollower? = nil,
    reloading: [ReloadingCertificate] = [],
    metrics: ServerMetrics? = nil,
    logger: Logger,
    onDrain: @escaping @Sendable () -> Void = {}
  ) {
    self.configuration = configuration
    self.services = services
    self.streamingRequestMethods = Set(streamingRequestMethods).union(ReflectionService.methods)
    self.synchronousMethods = synchronousMethods
    self.serviceInterceptors = interceptors
    let ready: (@Sendable () -> Bool)? = if let replica { { replica.isFresh } } else { nil }
    self.health = HealthService(services: serviceNames, ready: ready)
    self.reflection = ReflectionService(services: serviceNames + [HealthService.serviceName] + ReflectionService.serviceNames)
    self.authentication = authentication
    self.companions = companions + [replica].compactMap { $0 }
    self.reloading = reloading
    self.metrics = metrics
    self.logger = logger
    self.onDrain = onDrain
  }

  public func run() async throws {
    let connections = makeConnectionGuard()
    let rules = RequestRules(maxMessageBytes: Self.maxMessageBytes, streamingRequestMethods: streamingRequestMethods)
    let tokenCheck = makeTokenCheck()
    switch configuration.transport {
    case .nghttp2:
      let answers = SynchronousCalls.answers(
        synchronousMethods, rules: rules, token: tokenCheck, observer: CallObserver(logger: logger, metrics: metrics), logger: logger)
      try await serve(
        on: ServerTransports.wire(
          configuration, connections: connections, backend: authentication == .internalToken, eventLoopAnswers: answers, logger: logger),
        rules: rules, tokenCheck: tokenCheck, connections: connections)
    case .nio:
      try await serve(
        on: ServerTransports.nio(configuration, connections: connections, logger: logger), rules: rules, tokenCheck: tokenCheck,
        connections: connections)
    }
  }

  /// What checks the internal credential of calls, when the server asks one.
  private func makeTokenCheck() -> InternalTokenInterceptor? {
    switch (authentication, configuration.internalToken) {
    case (.internalToken, let token?):
      return InternalTokenInterceptor(token: token)
    case (.internalToken, nil):
      if configuration.tls?.requiresClientCertificate != true {
        logger.warning("no INTERNAL_TOKEN and no client certificates: accepting calls without a credential (ALLOW_INSECURE_DEV=1)")
      }
      return nil
    case (.byServices, _):
      return nil
    }
  }

  private func serve<Transport: BoundTransport>(
    on transport: Transport, rules: RequestRules, tokenCheck: InternalTokenInterceptor?, connections: ConnectionGuard
  ) async throws {
    let host = configuration.host
    let interceptors: [any ServerInterceptor] =
      [CallObserverInterceptor(logger: logger, metrics: metrics), CancellationInterceptor(), RequestDecodingInterceptor()]
      + [tokenCheck].compactMap { $0 } + serviceInterceptors
    let server = GRPCServer(
      transport: RequestGuardTransport(transport, rules: rules, logger: logger),
      services: services + [health] + reflection.services,
      interceptors: interceptors
    )
    let healthServer = makeHealthServer(connections: connections)
    let health = self.health
    let onDrain = self.onDrain
    let logger = self.logger
    let companions = self.companions
    let certificates = [configuration.tls?.certificate].compactMap { $0 } + reloading
    let healthAddress = self.healthAddress
    defer {
      address.close()
      healthAddress.close()
    }
    try await withThrowingTaskGroup(of: Void.self) { outer in
      outer.addTask {
        try await withThrowingDiscardingTaskGroup { group in
          for companion in companions { group.addTask { try await companion.run() } }
        }
      }
      // A server that failed leaves its companions cancelled.
      defer { outer.cancelAll() }
      try await withGracefulShutdownHandler {
        try await withThrowingDiscardingTaskGroup { group in
          group.addTask { try await server.serve() }
          // Re-reads certificates and keys while the server runs; ends at graceful shutdown.
          for certificate in certificates { group.addTask { await certificate.keepReloading(logger: logger) } }
          if let healthServer {
            group.addTask { try await healthServer.serve() }
            let port = try await healthServer.transport.base.boundPort
            healthAddress.set(host: host, port: port)
            logger.info("serving health only, in plaintext", metadata: ["net.host": "\(host)", "net.port": "\(port)"])
          }
          let port = try await server.transport.base.boundPort
          health.setServing(true)
          address.set(host: host, port: port)
          logger.info("serving", metadata: ["net.host": "\(host)", "net.port": "\(port)"])
        }
      } onGracefulShutdown: {
        logger.info("draining: finishing in-flight calls")
        health.setServing(false)
        health.finishWatchers()
        onDrain()
        server.beginGracefulShutdown()
        healthServer?.beginGracefulShutdown()
      }
      // Companions stop once the server has drained. A companion normally stops at once; one
      // holding a connection whose peer never finished the HTTP/2 handshake would wait forever,
      // so it is cancelled after a grace period.
      for companion in companions { companion.stop() }
      outer.addTask { try await Task.sleep(for: Self.companionStopGrace) }
      _ = try? await outer.next()
    }
  }

  /// The `HEALTH_PORT` server: plaintext, `grpc.health.v1.Health` only (anything else is
  /// UNIMPLEMENTED), under the same connection limits as the main port.
  private func makeHealthServer(connections: ConnectionGuard) -> GRPCServer<RequestGuardTransport<WireServerTransport>>? {
    guard let port = configuration.healthPort else { return nil }
    var plain = configuration
    plain.port = port
    plain.tls = nil
    plain.eventLoops = 1
    return GRPCServer(
      transport: RequestGuardTransport(
        ServerTransports.wire(plain, connections: connections, backend: false, logger: logger),
        rules: RequestRules(maxMessageBytes: Self.maxMessageBytes), logger: logger),
      services: [health],
      interceptors: [CallObserverInterceptor(logger: logger, metrics: metrics), CancellationInterceptor(), RequestDecodingInterceptor()])
  }

  /// How long companions get to stop gracefully after the server has stopped.
  static let companionStopGrace = Duration.seconds(2)
  /// A connection quiet this long is pinged; one that does not answer within the timeout is closed.
  static let keepaliveTime = Duration.seconds(60)
  static let keepaliveTimeout = Duration.seconds(20)

  /// The connection limits, with `GRPC_MAX_CONNECTIONS` lowered when the open-file limit could not
  /// hold that many.
  private func makeConnectionGuard() -> ConnectionGuard {
    let capacity = OpenFileLimit.connectionCapacity(OpenFileLimit.raise())
    if capacity < configuration.maxConnections {
      logger.warning(
        "GRPC_MAX_CONNECTIONS lowered to what the open-file limit allows",
        metadata: ["net.connections.max": "\(capacity)", "net.connections.configured": "\(configuration.maxConnections)"])
    }
    return ConnectionGuard(
      maxConnections: min(capacity, configuration.maxConnections), handshakeTimeout: configuration.handshakeTimeout, logger: logger)
  }
}

/// Something that runs alongside a server and stops after the server has stopped, such as a
/// long-lived client's connections.
public protocol ServerCompanion: Sendable {
  /// Runs until `stop()` is called (or fails).
  func run() async throws
  /// Asks `run()` to finish.
  func stop()
}

extension GRPCClient: ServerCompanion {
  public func run() async throws { try await runConnections() }
  public func stop() { beginGracefulShutdown() }
}

/// The address a server bound, available once it listens.
public final class ListeningAddress: Sendable {
  private struct State {
    var bound: (host: String, port: Int)?
    var closed = false
    var waiters: [CheckedContinuation<(host: String, port: Int), any Error>] = []
  }

  private let state = Mutex(State())

  public init() {}

  public func set(host: String, port: Int) {
    let waiters = state.withLock { state in
      state.bound = (host, port)
      defer { state.waiters = [] }
      return state.waiters
    }
    for waiter in waiters { waiter.resume(returning: (host, port)) }
  }

  public func close() {
    let waiters = state.withLock { state in
      state.closed = true
      defer { state.waiters = [] }
      return state.waiters
    }
    for waiter in waiters { waiter.resume(throwing: RPCError(code: .unavailable, message: "server stopped before it listened")) }
  }

  /// Waits until the server is bound and returns where.
  public func wait() async throws -> (host: String, port: Int) {
    try await withCheckedThrowingContinuation { continuation in
      let ready: Result<(host: String, port: Int), any Error>? = state.withLock { state in
        if let bound = state.bound { return .success(bound) }
        if state.closed { return .failure(RPCError(code: .unavailable, message: "server stopped before it listened")) }
        state.waiters.append(continuation)
        return nil
      }
      if let ready { continuation.resume(with: ready) }
    }
  }
}

/// What service-lifecycle's logs print for this service: which one and where, never its
/// configuration (the internal token) or its services (keys, peppers, clients with credentials).
extension PrivacyServer: CustomStringConvertible {
  public var description: String {
    "PrivacyServer(\(configuration.kind.executableName), \(configuration.host):\(configuration.port))"
  }
}
