import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import PrivacyGateway
import PrivacyKit
import PrivacyProtocol
import PrivacyCertificates
import PrivacyTesting
import Testing

/// The gateway over TLS to its callers and over mutual TLS to the backends, which accept only its
/// certificate: the trust boundary with real certificates made in the test.
@Suite("Gateway and backends over mutual TLS")
struct GatewayTLSTests {
  static let gatewayIdentity = "spiffe://privacy.local/gateway"

  /// What the backends and the gateway read, from one test CA.
  struct Setup {
    let ca: CertificateAuthority
    let backends: [String: String]
    let gateway: [String: String]
    let callerSecurity: HTTP2ClientTransport.Posix.TransportSecurity

    init(directory: TestDirectory, backendHostName: String? = nil) throws {
      ca = try CertificateAuthority(directory: directory)
      let backend = try ca.server("backend", hostName: backendHostName)
      let front = try ca.server("gateway-server")
      let client = try ca.client(GatewayTLSTests.gatewayIdentity)
      backends = [
        "TLS_CERT_FILE": backend.certificateFile, "TLS_KEY_FILE": backend.keyFile, "TLS_CLIENT_CA_FILE": ca.certificateFile,
        "TLS_ALLOWED_CLIENTS": GatewayTLSTests.gatewayIdentity,
      ]
      gateway = [
        "TLS_CERT_FILE": front.certificateFile, "TLS_KEY_FILE": front.keyFile, "BACKEND_TLS_CA_FILE": ca.certificateFile,
        "BACKEND_TLS_CERT_FILE": client.certificateFile, "BACKEND_TLS_KEY_FILE": client.keyFile,
      ]
      let caFile = ca.certificateFile
      callerSecurity = .tls { $0.trustRoots = .certificates([.file(path: caFile, format: .pem)]) }
    }
  }

  /// The backends' health as the gateway sees it.
  private func backendHealth(_ port: Int, security: HTTP2ClientTransport.Posix.TransportSecurity) async throws -> [Privacy_Gateway_V1_BackendHealth] {
    try await withGatewayClient(port: port, authorization: "Bearer \(apiKey("dpo"))", security: security) { client in
      try await Privacy_Gateway_V1_AdminService.Client(wrapping: client).getBackendHealth(.init()).backends
    }
  }

  @Test("callers reach the gateway over TLS, the gateway reaches every backend with its certificate; the internal token alone opens no backend")
  func trustBoundary() async throws {
    let fixture = try GatewayFixture()
    let setup = try Setup(directory: fixture.directory)
    try await fixture.run(gatewayEnvironment: setup.gateway, backendEnvironment: setup.backends) { port, backends async throws in
      #expect(try await backendHealth(port, security: setup.callerSecurity).map(\.status) == [.serving, .serving, .serving, .serving])
      let answer = try await withGatewayClient(port: port, authorization: "Bearer \(apiKey("dpo"))", security: setup.callerSecurity) { client in
        try await Privacy_Consent_V1_ConsentService.Client(wrapping: client).checkEmailEligibility(.with {
          $0.subjectID = "c-1"
          $0.messageKind = .reply
        })
      }
      #expect(answer.allowed)
      #expect(await capturedRPCError { try await backendHealth(port, security: .plaintext) }?.code == .unavailable, "plaintext to the gateway")

      // Straight to a backend with the internal token and a DPO role in metadata: refused at the
      // handshake without a certificate, and with a valid certificate of another identity.
      let crm = try setup.ca.client("spiffe://privacy.local/crm")
      let caFile = setup.ca.certificateFile
      let attempts: [HTTP2ClientTransport.Posix.TransportSecurity] = [
        .plaintext,
        .tls { $0.trustRoots = .certificates([.file(path: caFile, format: .pem)]) },
        .mTLS(certificateChain: [.file(path: crm.certificateFile, format: .pem)], privateKey: .file(path: crm.keyFile, format: .pem)) {
          $0.trustRoots = .certificates([.file(path: caFile, format: .pem)])
        },
      ]
      for security in attempts {
        let error = await capturedRPCError {
          try await withTestClient(port: backends[.vault]!, identity: CallerIdentity(actor: "intruder", role: "dpo", requestID: "r-1"), security: security) {
            client in try await Privacy_Vault_V1_VaultService.Client(wrapping: client).listFields(.init())
          }
        }
        #expect(error?.code == .unavailable)
      }
    }
  }

  @Test("a gateway without its client certificate cannot reach the backends")
  func gatewayWithoutCertificate() async throws {
    let fixture = try GatewayFixture()
    let setup = try Setup(directory: fixture.directory)
    let gateway = setup.gateway.filter { !$0.key.hasPrefix("BACKEND_TLS_CERT") && !$0.key.hasPrefix("BACKEND_TLS_KEY") }
    try await fixture.run(gatewayEnvironment: gateway, backendEnvironment: setup.backends) { port, _ async throws in
      #expect(try await backendHealth(port, security: setup.callerSecurity).map(\.status) == [.unreachable, .unreachable, .unreachable, .unreachable])
    }
  }

  @Test("BACKEND_TLS_SERVER_NAME: a backend certificate naming a host is verified against that name, not the IP address")
  func serverName() async throws {
    let fixture = try GatewayFixture()
    let setup = try Setup(directory: fixture.directory, backendHostName: "backend.privacy.local")
    try await fixture.run(gatewayEnvironment: setup.gateway, backendEnvironment: setup.backends) { port, _ async throws in
      #expect(try await backendHealth(port, security: setup.callerSecurity).map(\.status) == [.unreachable, .unreachable, .unreachable, .unreachable])
    }
    try await fixture.run(
      gatewayEnvironment: setup.gateway.merging(["BACKEND_TLS_SERVER_NAME": "backend.privacy.local"]) { $1 }, backendEnvironment: setup.backends
    ) { port, _ async throws in
      #expect(try await backendHealth(port, security: setup.callerSecurity).map(\.status) == [.serving, .serving, .serving, .serving])
    }
  }

  @Test("partial BACKEND_TLS_ settings stop start-up, naming the variable")
  func configuration() throws {
    let fixture = try GatewayFixture()
    let setup = try Setup(directory: fixture.directory)
    func problem(_ extra: [String: String]) -> String? {
      let environment = testEnvironment(database: fixture.auditPath, extra: extra)
      do {
        _ = try GatewayConfiguration(service: try ServiceConfiguration(kind: .gateway, environment: environment), environment: EnvironmentReader(environment))
        return nil
      } catch {
        return error.variable
      }
    }
    #expect(problem(["BACKEND_TLS_CERT_FILE": setup.gateway["BACKEND_TLS_CERT_FILE"]!]) == "BACKEND_TLS_KEY_FILE")
    #expect(problem(["BACKEND_TLS_KEY_FILE": setup.gateway["BACKEND_TLS_KEY_FILE"]!]) == "BACKEND_TLS_CERT_FILE")
    #expect(problem(["BACKEND_TLS_CERT_FILE": setup.ca.certificateFile, "BACKEND_TLS_KEY_FILE": setup.gateway["BACKEND_TLS_KEY_FILE"]!]) == "BACKEND_TLS_CERT_FILE")
    #expect(problem(setup.gateway) == nil)
    // A backend's own certificate name needs TLS to the backends.
    #expect(problem(setup.gateway.merging(["VAULT_SERVICE_TLS_NAME": "vault"]) { $1 }) == nil)
    #expect(problem(["VAULT_SERVICE_TLS_NAME": "vault"]) == "VAULT_SERVICE_TLS_NAME")
    // Outside a local run the gateway must reach the backends with its certificate, and key its
    // audit chain with a key of its own.
    let production = setup.gateway.merging(["ALLOW_INSECURE_DEV": "0", "GATEWAY_AUDIT_KEY": Data(repeating: 5, count: 32).base64EncodedString()]) { $1 }
    #expect(problem(production) == nil)
    #expect(problem(production.filter { $0.key != "GATEWAY_AUDIT_KEY" }) == "GATEWAY_AUDIT_KEY_FILE")
    #expect(problem(production.merging(["GATEWAY_AUDIT_KEY": Data(repeating: 5, count: 16).base64EncodedString()]) { $1 }) == "GATEWAY_AUDIT_KEY_FILE")
    for interval in ["0s", "24", "1y", "-1h", "367d"] {
      #expect(problem(setup.gateway.merging(["RETENTION_SWEEP_INTERVAL": interval]) { $1 }) == "RETENTION_SWEEP_INTERVAL", "\(interval)")
    }
    for interval in ["off", "90s", "30m", "6h", "1d"] {
      #expect(problem(setup.gateway.merging(["RETENTION_SWEEP_INTERVAL": interval]) { $1 }) == nil, "\(interval)")
    }
    #expect(problem(production.filter { !$0.key.hasPrefix("BACKEND_") }) == "BACKEND_TLS_CA_FILE")
    #expect(problem(production.filter { $0.key != "BACKEND_TLS_CERT_FILE" && $0.key != "BACKEND_TLS_KEY_FILE" }) == "BACKEND_TLS_CERT_FILE")
  }
}
