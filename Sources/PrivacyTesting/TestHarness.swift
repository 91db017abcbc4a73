public import Foundation
import GRPCProtobuf
public import GRPCCore
public import GRPCNIOTransportHTTP2
public import Logging
public import PrivacyKit
public import PrivacyCertificates
public import ServiceLifecycle
import Synchronization

/// The internal token tests run with.
public let testInternalToken = "test-internal-token-0123456789"

/// A temporary directory removed when the test ends.
public struct TestDirectory: Sendable {
  public let url: URL

  public init() throws {
    url = FileManager.default.temporaryDirectory.appendingPathComponent("privacy-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
  }

  public func path(_ name: String) -> String {
    url.appendingPathComponent(name).path
  }

  public func remove() {
    try? FileManager.default.removeItem(at: url)
  }
}

/// The environment a service reads in tests: port 0 on loopback, the test token, a database in
/// `directory`, plaintext allowed (`ALLOW_INSECURE_DEV=1`; the TLS tests add certificates).
public func testEnvironment(database: String, extra: [String: String] = [:]) -> [String: String] {
  [
    "GRPC_HOST": "127.0.0.1",
    "GRPC_PORT": "0",
    "DATABASE_URL": "sqlite://\(database)",
    "INTERNAL_TOKEN": testInternalToken,
    "ALLOW_INSECURE_DEV": "1",
  ].merging(extra) { _, new in new }
}

/// A logger that drops everything (tests assert on behaviour, not logs).
public let silentLogger = Logger(label: "privacy.test") { _ in SwiftLogNoOpLogHandler() }

/// Runs a server on its ephemeral port for the duration of `body`, then drains it gracefully.
public func withRunningServer<T: Sendable>(
  _ server: PrivacyServer, _ body: (_ port: Int) async throws -> T
) async throws -> T {
  try await withRunningService(server, address: server.address, body)
}

/// Runs any lifecycle service that reports where it listens (the preference center) as
/// `withRunningServer` runs a gRPC server.
public func withRunningService<T: Sendable>(
  _ service: some Service, address: ListeningAddress, _ body: (_ port: Int) async throws -> T
) async throws -> T {
  let group = ServiceGroup(services: [service], logger: silentLogger)
  return try await withThrowingTaskGroup(of: Void.self) { tasks in
    tasks.addTask { try await group.run() }
    do {
      let port = try await address.wait().port
      let result = try await body(port)
      await group.triggerGracefulShutdown()
      try await tasks.waitForAll()
      return result
    } catch {
      await group.triggerGracefulShutdown()
      try? await tasks.waitForAll()
      throw error
    }
  }
}

/// A client over real HTTP/2 to 127.0.0.1:`port` that presents `token` and `identity` on every call
/// (over TLS when `security` says so). With `deadline`, every call that sets none ends by then.
public func withTestClient<T: Sendable>(
  port: Int, token: String? = testInternalToken,
  identity: CallerIdentity = CallerIdentity(actor: "test-actor", role: "test", requestID: "test-request"),
  security: HTTP2ClientTransport.Posix.TransportSecurity = .plaintext, deadline: Duration? = nil,
  _ body: (GRPCClient<HTTP2ClientTransport.Posix>) async throws -> T
) async throws -> T {
  let transport = try HTTP2ClientTransport.Posix(
    target: .ipv4(address: "127.0.0.1", port: port),
    transportSecurity: security,
    config: .defaults { $0.connection.maxIdleTime = nil },
    serviceConfig: callDeadline(deadline)
  )
  return try await withGRPCClient(transport: transport, interceptors: [MetadataInterceptor(metadata: identity.metadata(internalToken: token))]) { client in
    try await body(client)
  }
}

/// Runs `body` with a client of the gateway presenting `authorization` (unless nil, e.g.
/// `Bearer <id>.<secret>`) and any extra metadata on every call. With `deadline`, every call
/// that sets none ends by then.
public func withGatewayClient<T: Sendable>(
  port: Int, authorization: String?, metadata extra: Metadata = [:], security: HTTP2ClientTransport.Posix.TransportSecurity = .plaintext,
  deadline: Duration? = nil, _ body: (GRPCClient<HTTP2ClientTransport.Posix>) async throws -> T
) async throws -> T {
  let transport = try HTTP2ClientTransport.Posix(
    target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: security,
    config: .defaults { $0.connection.maxIdleTime = nil }, serviceConfig: callDeadline(deadline))
  var metadata = extra
  if let authorization { metadata.addString(authorization, forKey: "authorization") }
  return try await withGRPCClient(transport: transport, interceptors: [MetadataInterceptor(metadata: metadata)]) { client in
    try await body(client)
  }
}

/// A client configuration under which every call without a deadline of its own gets `deadline`
/// (none when nil): for tests whose servers are killed, so that a call left waiting on a dead
/// connection fails where it waits instead of holding the whole run.
private func callDeadline(_ deadline: Duration?) -> ServiceConfig {
  guard let deadline else { return ServiceConfig() }
  return ServiceConfig(methodConfig: [MethodConfig(names: [MethodConfig.Name(service: "")], timeout: deadline)])
}

/// Adds fixed metadata to every call.
struct MetadataInterceptor: ClientInterceptor {
  let metadata: Metadata

  func intercept<Input: Sendable, Output: Sendable>(
    request: StreamingClientRequest<Input>,
    context: ClientContext,
    next: (StreamingClientRequest<Input>, ClientContext) async throws -> StreamingClientResponse<Output>
  ) async throws -> StreamingClientResponse<Output> {
    var request = request
    request.metadata.add(contentsOf: metadata)
    return try await next(request, context)
  }
}

/// A clock tests move by hand.
public final class TestClock: Sendable {
  private let current: Mutex<Date>

  public init(_ start: Date = Date(timeIntervalSince1970: 1_790_000_000)) {
    current = Mutex(start)
  }

  public func now() -> Date { current.withLock { $0 } }

  public func advance(by interval: TimeInterval) {
    current.withLock { $0 = $0.addingTimeInterval(interval) }
  }
}

/// Whether any of `files` contains `needle` as raw bytes (for "no clear value reaches disk").
public func filesContain(_ files: [String], _ needle: String) -> Bool {
  let pattern = Data(needle.utf8)
  return files.contains { path in
    guard let data = FileManager.default.contents(atPath: path) else { return false }
    return data.range(of: pattern) != nil
  }
}

/// The RPC error `body` throws, or nil when it succeeds.
public func capturedRPCError(_ body: () async throws -> some Any) async -> RPCError? {
  do {
    _ = try await body()
    return nil
  } catch let error as RPCError {
    return error
  } catch {
    return RPCError(code: .unknown, message: "not an RPC error: \(error)")
  }
}

extension CertificateAuthority {
  /// A CA made for one test, issuing into the test's directory.
  public init(directory: TestDirectory, name: String = "privacy-test-ca") throws {
    try self.init(directory: directory.url, name: name)
  }

  /// A client's TLS trusting this CA, presenting `client`'s certificate when given (mutual TLS).
  public func transportSecurity(presenting client: Issued? = nil) -> HTTP2ClientTransport.Posix.TransportSecurity {
    let caFile = certificateFile
    guard let client else { return .tls { $0.trustRoots = .certificates([.file(path: caFile, format: .pem)]) } }
    return .mTLS(certificateChain: [.file(path: client.certificateFile, format: .pem)], privateKey: .file(path: client.keyFile, format: .pem)) {
      $0.trustRoots = .certificates([.file(path: caFile, format: .pem)])
    }
  }
}

/// Waits until `condition` holds, checking every 20 ms, for at most `timeout`; whether it held.
/// For effects that follow a write asynchronously (the gateway's consent reactor).
public func eventually(timeout: Duration = .seconds(10), _ condition: () async throws -> Bool) async throws -> Bool {
  let end = ContinuousClock.now + timeout
  while true {
    if try await condition() { return true }
    guard ContinuousClock.now < end else { return false }
    try await Task.sleep(for: .milliseconds(20))
  }
}

/// A loopback port nothing listens on. The socket stays bound (never listening) until the test
/// process ends: released, the port could be bound by a server of a test running in parallel, and
/// "the backend that is down" would answer.
public func closedPort() -> Int {
  boundLoopbackSocket().port
}

/// Listens on `port` of 127.0.0.1 and never accepts, so that no other server (of a test running
/// beside) takes the port of a server that stopped while clients still dial it: they would call
/// the wrong service. Returns the socket to close, or nil when the port is taken already.
public func holdLoopbackPort(_ port: Int) -> Int32? {
  let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
  var reuse: Int32 = 1
  // The stopped server's connections may linger in TIME_WAIT; a listener still keeps others off.
  setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
  guard withLoopbackAddress(port: port, { bind(descriptor, $0, $1) }) == 0, listen(descriptor, 1) == 0 else {
    close(descriptor)
    return nil
  }
  return descriptor
}

/// A TCP socket bound to a free port of 127.0.0.1, not yet listening.
public func boundLoopbackSocket() -> (descriptor: Int32, port: Int) {
  let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
  _ = withLoopbackAddress(port: 0) { bind(descriptor, $0, $1) }
  var address = sockaddr_in()
  var length = socklen_t(MemoryLayout<sockaddr_in>.size)
  _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) } }
  return (descriptor, Int(UInt16(bigEndian: address.sin_port)))
}

/// Calls `body` with 127.0.0.1:`port` as the socket calls take it (`bind`, `connect`).
public func withLoopbackAddress<T>(port: Int, _ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
  var address = sockaddr_in()
  address.sin_family = sa_family_t(AF_INET)
  address.sin_port = in_port_t(UInt16(port).bigEndian)
  address.sin_addr.s_addr = inet_addr("127.0.0.1")
  return withUnsafePointer(to: &address) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
  }
}

/// How long until `condition` holds, asked every 5 ms; nil when it did not within `limit`.
public func elapsedUntil(within limit: Duration = .seconds(5), _ condition: () async throws -> Bool) async throws -> Duration? {
  let start = ContinuousClock.now
  while ContinuousClock.now - start < limit {
    if try await condition() { return ContinuousClock.now - start }
    try await Task.sleep(for: .milliseconds(5))
  }
  return nil
}

/// How many calls of `method` (full name, `package.Service/Method`) a server's metrics counted as
/// finished: with `code` (`OK`, `NOT_FOUND`...) only those, else whatever their status.
public func handledCalls(_ metrics: ServerMetrics, method: String, code: String? = nil) -> Int {
  let prefix = #"grpc_server_handled_total{grpc_method=""# + method + #"",grpc_code=""# + (code.map { $0 + "\"}" } ?? "")
  return metrics.registry.emitToString().split(separator: "\n").filter { $0.hasPrefix(prefix) }
    .compactMap { $0.split(separator: " ").last.flatMap { Int($0) } }.reduce(0, +)
}
