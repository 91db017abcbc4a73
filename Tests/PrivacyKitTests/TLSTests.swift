import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import GRPCProtobuf
import Logging
import PrivacyKit
import PrivacyProtocol
import PrivacyCertificates
import PrivacyTesting
import Testing

/// TLS on a server's port and mutual TLS (`TLS_*` variables), on both transports, with real
/// certificates made in the test and real handshakes over loopback.
@Suite("TLS and mutual TLS")
struct TLSTests {
  static let gateway = "spiffe://privacy.local/gateway"

  /// A server with `environment` on top of the test defaults, and the logger its refusals go to.
  private func makeServer(_ environment: [String: String], directory: TestDirectory, logger: Logger = silentLogger) throws -> PrivacyServer {
    let configuration = try ServiceConfiguration(
      kind: .vault, environment: testEnvironment(database: directory.path("unused.sqlite"), extra: environment))
    return PrivacyServer(configuration: configuration, services: [SleepService(started: {})], serviceNames: ["test.Runtime"], logger: logger)
  }

  /// The outcome of one call: nil when it succeeded, else the error's code; and how long it took.
  private func call(port: Int, security: HTTP2ClientTransport.Posix.TransportSecurity) async -> (RPCError.Code?, Duration) {
    let start = ContinuousClock.now
    let error = await capturedRPCError {
      try await withTestClient(port: port, security: security) { client in
        var options = CallOptions.defaults
        options.timeout = .seconds(10)
        options.waitForReady = false
        return try await client.unary(
          request: ClientRequest(message: .with { $0.service = "0" }), descriptor: SleepService.method,
          serializer: ProtobufSerializer<Grpc_Health_V1_HealthCheckRequest>(),
          deserializer: ProtobufDeserializer<Grpc_Health_V1_HealthCheckResponse>(), options: options
        ) { try $0.message }
      }
    }
    return (error?.code, ContinuousClock.now - start)
  }

  @Test(
    "mutual TLS: the allowed identity is served; no certificate, another CA, another identity, an expired certificate and plaintext are refused at once",
    arguments: TransportKind.allCases)
  func handshakeTable(transport: TransportKind) async throws {
    let directory = try TestDirectory()
    defer { directory.remove() }
    let ca = try CertificateAuthority(directory: directory)
    let stranger = try CertificateAuthority(directory: directory, name: "stranger-ca")
    let server = try ca.server()
    let log = LogRecorder()
    let environment = [
      "GRPC_TRANSPORT": transport.rawValue, "TLS_CERT_FILE": server.certificateFile, "TLS_KEY_FILE": server.keyFile,
      "TLS_CLIENT_CA_FILE": ca.certificateFile, "TLS_ALLOWED_CLIENTS": "\(Self.gateway), gateway.privacy.local",
    ]
    try await withRunningServer(try makeServer(environment, directory: directory, logger: log.logger())) { port async throws in
      let cases: [(String, HTTP2ClientTransport.Posix.TransportSecurity, Bool)] = [
        ("the gateway (URI SAN)", ca.transportSecurity(presenting: try ca.client(Self.gateway)), true),
        ("an allowed DNS SAN", ca.transportSecurity(presenting: try ca.client("gateway.privacy.local")), true),
        ("no client certificate", ca.transportSecurity(), false),
        ("the gateway's identity from another CA", ca.transportSecurity(presenting: try stranger.client(Self.gateway, file: "stranger-gateway")), false),
        ("a valid certificate for another identity", ca.transportSecurity(presenting: try ca.client("spiffe://privacy.local/crm")), false),
        ("an expired gateway certificate", ca.transportSecurity(presenting: try ca.client(Self.gateway, file: "expired", validFor: -86_400...(-3600))), false),
        ("plaintext", .plaintext, false),
      ]
      for (name, security, served) in cases {
        let (code, elapsed) = await call(port: port, security: security)
        if served {
          #expect(code == nil, "\(name): \(String(describing: code))")
        } else {
          #expect(code == .unavailable, "\(name): \(String(describing: code))")
          #expect(elapsed < .seconds(5), "\(name) took \(elapsed)")
        }
      }
    }
    let refusals = log.all.filter { $0.message.contains("TLS_ALLOWED_CLIENTS") }
    #expect(refusals.count == 1)
    #expect(refusals.first?.level == .warning)
    #expect(refusals.first?.metadata["tls.client.identities"] == "spiffe://privacy.local/crm")
  }

  @Test("TLS without a client CA serves any TLS client and refuses plaintext", arguments: TransportKind.allCases)
  func serverOnly(transport: TransportKind) async throws {
    let directory = try TestDirectory()
    defer { directory.remove() }
    let ca = try CertificateAuthority(directory: directory)
    let server = try ca.server()
    let environment = ["GRPC_TRANSPORT": transport.rawValue, "TLS_CERT_FILE": server.certificateFile, "TLS_KEY_FILE": server.keyFile]
    try await withRunningServer(try makeServer(environment, directory: directory)) { port async throws in
      #expect(await call(port: port, security: ca.transportSecurity()).0 == nil)
      #expect(await call(port: port, security: .plaintext).0 == .unavailable)
      let stranger = try CertificateAuthority(directory: directory, name: "stranger-ca")
      #expect(await call(port: port, security: stranger.transportSecurity()).0 == .unavailable, "a client that does not trust the server")
    }
  }

  @Test("a renewed certificate and key are served without a restart", arguments: TransportKind.allCases)
  func reload(transport: TransportKind) async throws {
    let directory = try TestDirectory()
    defer { directory.remove() }
    let first = try CertificateAuthority(directory: directory, name: "first-ca")
    let second = try CertificateAuthority(directory: directory, name: "second-ca")
    let server = try first.server()
    let environment = [
      "GRPC_TRANSPORT": transport.rawValue, "TLS_CERT_FILE": server.certificateFile, "TLS_KEY_FILE": server.keyFile,
      "TLS_RELOAD_INTERVAL_S": "1",
    ]
    let log = LogRecorder()
    try await withRunningServer(try makeServer(environment, directory: directory, logger: log.logger())) { port async throws in
      #expect(await call(port: port, security: first.transportSecurity()).0 == nil)
      // A half-written pair (a key that does not match) is not taken: the old pair keeps serving.
      let renewed = try second.server("renewed")
      try FileManager.default.removeItem(atPath: server.keyFile)
      try FileManager.default.copyItem(atPath: renewed.keyFile, toPath: server.keyFile)
      try await Task.sleep(for: .milliseconds(2500))
      #expect(await call(port: port, security: first.transportSecurity()).0 == nil)
      #expect(log.all.contains { $0.message.contains("TLS certificate reload failed") })
      try FileManager.default.removeItem(atPath: server.certificateFile)
      try FileManager.default.copyItem(atPath: renewed.certificateFile, toPath: server.certificateFile)
      try await Task.sleep(for: .milliseconds(2500))
      #expect(await call(port: port, security: second.transportSecurity()).0 == nil)
      #expect(await call(port: port, security: first.transportSecurity()).0 == .unavailable)
    }
  }

  @Test("HEALTH_PORT answers grpc.health.v1 in plaintext and nothing else; the main port stays mutual TLS", arguments: TransportKind.allCases)
  func healthPort(transport: TransportKind) async throws {
    let directory = try TestDirectory()
    defer { directory.remove() }
    let ca = try CertificateAuthority(directory: directory)
    let server = try ca.server()
    let environment = [
      "GRPC_TRANSPORT": transport.rawValue, "TLS_CERT_FILE": server.certificateFile, "TLS_KEY_FILE": server.keyFile,
      "TLS_CLIENT_CA_FILE": ca.certificateFile, "HEALTH_PORT": "0",
    ]
    let privacyServer = try makeServer(environment, directory: directory)
    try await withRunningServer(privacyServer) { port async throws in
      let healthPort = try await privacyServer.healthAddress.wait().port
      #expect(healthPort != port)
      let probed = await HealthProbe.check(ServiceAddress(host: "127.0.0.1", port: healthPort), timeout: .seconds(10))
      #expect(probed == .serving, "\(probed)")
      // The service's own method is not there, even with the internal token.
      #expect(await call(port: healthPort, security: .plaintext).0 == .unimplemented)
      #expect(await call(port: port, security: .plaintext).0 == .unavailable)
      #expect(await HealthProbe.check(ServiceAddress(host: "127.0.0.1", port: port)) != .serving)
    }
  }

  @Test("partial or unreadable TLS settings stop start-up, naming the variable")
  func configuration() throws {
    let directory = try TestDirectory()
    defer { directory.remove() }
    let ca = try CertificateAuthority(directory: directory)
    let server = try ca.server()
    func problem(_ environment: [String: String]) -> String? {
      do {
        _ = try ServiceConfiguration(kind: .vault, environment: testEnvironment(database: directory.path("unused.sqlite"), extra: environment))
        return nil
      } catch {
        return error.variable
      }
    }
    #expect(problem(["TLS_CERT_FILE": server.certificateFile]) == "TLS_KEY_FILE")
    #expect(problem(["TLS_KEY_FILE": server.keyFile]) == "TLS_CERT_FILE")
    #expect(problem(["TLS_CLIENT_CA_FILE": ca.certificateFile]) == "TLS_CLIENT_CA_FILE")
    #expect(problem(["TLS_CERT_FILE": server.certificateFile, "TLS_KEY_FILE": server.keyFile, "TLS_ALLOWED_CLIENTS": Self.gateway]) == "TLS_ALLOWED_CLIENTS")
    #expect(problem(["TLS_CERT_FILE": directory.path("missing.pem"), "TLS_KEY_FILE": server.keyFile]) == "TLS_CERT_FILE")
    #expect(problem(["TLS_CERT_FILE": server.keyFile, "TLS_KEY_FILE": server.keyFile]) == "TLS_CERT_FILE")
    #expect(problem(["TLS_CERT_FILE": server.certificateFile, "TLS_KEY_FILE": server.keyFile, "TLS_CLIENT_CA_FILE": server.keyFile]) == "TLS_CLIENT_CA_FILE")
    #expect(problem(["TLS_CERT_FILE": server.certificateFile, "TLS_KEY_FILE": server.keyFile, "TLS_RELOAD_INTERVAL_S": "0"]) == "TLS_RELOAD_INTERVAL_S")
    #expect(problem(["TLS_CERT_FILE": server.certificateFile, "TLS_KEY_FILE": server.keyFile, "TLS_CLIENT_CA_FILE": ca.certificateFile]) == nil)
    // Outside a local run a backend needs mutual TLS, and no service serves plaintext.
    let production = ["ALLOW_INSECURE_DEV": "0"]
    #expect(problem(production) == "TLS_CERT_FILE")
    #expect(problem(production.merging(["TLS_CERT_FILE": server.certificateFile, "TLS_KEY_FILE": server.keyFile]) { $1 }) == "TLS_CLIENT_CA_FILE")
    #expect(problem(production.merging([
      "TLS_CERT_FILE": server.certificateFile, "TLS_KEY_FILE": server.keyFile, "TLS_CLIENT_CA_FILE": ca.certificateFile,
    ]) { $1 }) == nil)
  }
}
