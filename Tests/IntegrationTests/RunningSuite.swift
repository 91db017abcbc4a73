import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import PrivacyCertificates
import PrivacyKit
import PrivacyTesting

/// The four backends and the gateway as real processes (built products, ports 0, one SQLite file
/// each in a temporary directory), with one API key per role of the shipped policy; TLS on every
/// port and mutual TLS from the gateway to the backends, with certificates made for the run.
final class RunningSuite: Sendable {
  static let roles = ["admin", "dpo", "support", "billing", "marketing", "service", "auditor", "delivery"]
  /// The roles with a key: the staff and integration roles, and the preference center's (which
  /// acts only with a preference link, so the role matrix leaves it out).
  static let keyedRoles = roles + ["preference-center"]
  static let backendNames = ["consent-service", "vault-service", "subject-rights-service", "blocklist-service"]

  let directory: TestDirectory
  let backends: [String: RunningProcess]
  let addresses: [String: ServiceAddress]
  let gateway: RunningProcess
  let gatewayAddress: ServiceAddress
  /// The CA that vouches for every server of the run.
  let caFile: String
  static let gatewayIdentity = "spiffe://privacy.local/gateway"

  /// `<role>-key.secret-<role>`, acting as `<role>@test`.
  static func apiKey(_ role: String) -> String { "\(role)-key.secret-\(role)" }

  static func start(gatewayEnvironment: [String: String] = [:]) async throws -> RunningSuite {
    let directory = try TestDirectory()
    var keys = "keys:\n"
    for role in keyedRoles {
      keys += "  - {id: \(role)-key, role: \(role), actor: \(role)@test, sha256: \(SecureToken.hash("secret-\(role)"))}\n"
    }
    try keys.write(toFile: directory.path("keys.yaml"), atomically: true, encoding: .utf8)
    let ca = try CertificateAuthority(directory: directory)
    let server = try ca.server()
    let client = try ca.client(gatewayIdentity)
    var backends: [String: RunningProcess] = [:]
    var addresses: [String: ServiceAddress] = [:]
    for name in backendNames {
      let process = try RunningProcess(name, environment: serviceEnvironment(directory, name, extra: [
        "TLS_CERT_FILE": server.certificateFile, "TLS_KEY_FILE": server.keyFile, "TLS_CLIENT_CA_FILE": ca.certificateFile,
        "TLS_ALLOWED_CLIENTS": gatewayIdentity,
        // Where the mailed links point, as in production: the preference center (whose own
        // address a test puts in front of the links' paths).
        "PUBLIC_BASE_URL": "https://privacy.example.com",
      ]))
      backends[name] = process
      addresses[name] = try await process.listeningAddress()
    }
    var environment = serviceEnvironment(directory, "gateway", extra: [
      "GATEWAY_API_KEYS_FILE": directory.path("keys.yaml"),
      "CONSENT_SERVICE_ADDR": addresses["consent-service"]!.description,
      "VAULT_SERVICE_ADDR": addresses["vault-service"]!.description,
      "RIGHTS_SERVICE_ADDR": addresses["subject-rights-service"]!.description,
      "BLOCKLIST_SERVICE_ADDR": addresses["blocklist-service"]!.description,
      "TLS_CERT_FILE": server.certificateFile, "TLS_KEY_FILE": server.keyFile, "BACKEND_TLS_CA_FILE": ca.certificateFile,
      "BACKEND_TLS_CERT_FILE": client.certificateFile, "BACKEND_TLS_KEY_FILE": client.keyFile,
    ])
    environment.merge(gatewayEnvironment) { _, new in new }
    let gateway = try RunningProcess("gateway", environment: environment)
    let gatewayAddress = try await gateway.listeningAddress()
    return RunningSuite(
      directory: directory, backends: backends, addresses: addresses, gateway: gateway, gatewayAddress: gatewayAddress, caFile: ca.certificateFile)
  }

  private init(
    directory: TestDirectory, backends: [String: RunningProcess], addresses: [String: ServiceAddress], gateway: RunningProcess,
    gatewayAddress: ServiceAddress, caFile: String
  ) {
    self.caFile = caFile
    self.directory = directory
    self.backends = backends
    self.addresses = addresses
    self.gateway = gateway
    self.gatewayAddress = gatewayAddress
  }

  /// Starts the suite, runs `body` with it and stops it, whether `body` succeeded or not.
  static func with<T: Sendable>(gatewayEnvironment: [String: String] = [:], _ body: (RunningSuite) async throws -> T) async throws -> T {
    let suite = try await start(gatewayEnvironment: gatewayEnvironment)
    do {
      let result = try await body(suite)
      await suite.stop()
      return result
    } catch {
      await suite.stop()
      throw error
    }
  }

  /// Runs `body` with a gateway client over TLS presenting the role's API key.
  func asRole<T: Sendable>(_ role: String, _ body: (GRPCClient<HTTP2ClientTransport.Posix>) async throws -> T) async throws -> T {
    let caFile = self.caFile
    return try await withGatewayClient(
      port: gatewayAddress.port, authorization: "Bearer \(Self.apiKey(role))",
      security: .tls { $0.trustRoots = .certificates([.file(path: caFile, format: .pem)]) }, body)
  }

  /// Stops every process (SIGTERM) and removes the directory.
  func stop() async {
    for process in [gateway] + Array(backends.values) where process.isRunning {
      process.signal(SIGTERM)
      _ = try? await process.waitForExit()
    }
    directory.remove()
  }
}

/// Messages passed as they are on the wire, so a test can call any method and search the bytes.
struct RawBytes: MessageSerializer, MessageDeserializer {
  func serialize<Bytes: GRPCContiguousBytes>(_ message: [UInt8]) throws -> Bytes { Bytes(message) }
  func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> [UInt8] {
    serializedMessageBytes.withUnsafeBytes { Array($0) }
  }
}

extension GRPCClient {
  /// Calls a unary method with wire bytes; the answer's bytes or its error.
  func rawUnary(_ method: MethodDescriptor, _ request: [UInt8]) async -> Result<[UInt8], RPCError> {
    do {
      return .success(try await unary(
        request: ClientRequest(message: request), descriptor: method, serializer: RawBytes(), deserializer: RawBytes(),
        options: .defaults) { try $0.message })
    } catch let error as RPCError {
      return .failure(error)
    } catch {
      return .failure(RPCError(code: .unknown, message: "\(error)"))
    }
  }

  /// Calls a server-streaming method with wire bytes for `window`; every message received, or the
  /// error that ended the call before the window closed.
  func rawStream(_ method: MethodDescriptor, _ request: [UInt8], window: Duration) async -> Result<[UInt8], RPCError> {
    var options = CallOptions.defaults
    options.timeout = window
    do {
      return .success(try await serverStreaming(
        request: ClientRequest(message: request), descriptor: method, serializer: RawBytes(), deserializer: RawBytes(),
        options: options) { response in
          var bytes: [UInt8] = []
          for try await message in response.messages { bytes += message }
          return bytes
        })
    } catch let error as RPCError where error.code == .deadlineExceeded {
      return .success([])
    } catch let error as RPCError {
      return .failure(error)
    } catch {
      return .failure(RPCError(code: .unknown, message: "\(error)"))
    }
  }
}
