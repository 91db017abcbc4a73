import Foundation
import GRDB
import GRPCCore
import GRPCNIOTransportHTTP2
import PrivacyBlocklist
import PrivacyConsent
import PrivacyGateway
import PrivacyKit
import PrivacyProtocol
import PrivacyRights
import PrivacyTesting
import PrivacyVault
import Testing

typealias Transport = HTTP2ClientTransport.Posix
typealias VaultClient = Privacy_Vault_V1_VaultService.Client<Transport>
typealias ConsentClient = Privacy_Consent_V1_ConsentService.Client<Transport>
typealias AdminClient = Privacy_Gateway_V1_AdminService.Client<Transport>

/// The roles of the shipped policy, each with a test API key `<role>-key.secret-<role>` acting
/// as `<role>@test`.
let shippedRoles = ["admin", "dpo", "support", "billing", "marketing", "service", "auditor", "delivery", "preference-center"]

func apiKey(_ role: String) -> String { "\(role)-key.secret-\(role)" }

/// A keys file (YAML) with one key per role, plus `extra` lines.
func keysFile(roles: [String] = shippedRoles, revoked: Set<String> = []) -> String {
  var text = "keys:\n"
  for role in roles {
    text += """
        - id: \(role)-key
          role: \(role)
          actor: \(role)@test
          sha256: \(SecureToken.hash("secret-\(role)"))
          revoked: \(revoked.contains(role))

      """
  }
  return text
}

/// Four real backends in-process on ephemeral ports (or some of them down) and the gateway in
/// front of them, each on its own SQLite file in a temporary directory.
final class GatewayFixture: Sendable {
  let directory: TestDirectory
  let clock: TestClock
  let keysPath: String
  let auditPath: String

  /// `auditDirectory`: where the gateway's database goes (a small file system, to fill it up).
  init(keys: String = keysFile(), auditDirectory: String? = nil) throws {
    directory = try TestDirectory()
    clock = TestClock(Date())
    keysPath = directory.path("keys.yaml")
    auditPath = auditDirectory.map { $0 + "/gateway.sqlite" } ?? directory.path("gateway.sqlite")
    try keys.write(toFile: keysPath, atomically: true, encoding: .utf8)
  }

  deinit { directory.remove() }

  func environment(_ name: String, extra: [String: String] = [:]) -> [String: String] {
    testEnvironment(database: directory.path("\(name).sqlite"), extra: [
      "VAULT_MASTER_KEY": Data(repeating: 7, count: 32).base64EncodedString(),
      "BLOCKLIST_PEPPER": Data(repeating: 9, count: 32).base64EncodedString(),
    ].merging(extra) { _, new in new })
  }

  func backend(_ kind: BackendKind, extra: [String: String] = [:]) async throws -> PrivacyServer {
    let environment = self.environment(kind.rawValue, extra: extra)
    let reader = EnvironmentReader(environment)
    let clock = self.clock
    switch kind {
    case .consent:
      let service = try ServiceConfiguration(kind: .consent, environment: environment)
      return try await makeConsentServer(
        configuration: ConsentConfiguration(service: service, environment: reader), logger: silentLogger, now: { clock.now() })
    case .vault:
      let service = try ServiceConfiguration(kind: .vault, environment: environment)
      return try await makeVaultServer(
        configuration: VaultConfiguration(service: service, environment: reader), logger: silentLogger, now: { clock.now() })
    case .rights:
      let service = try ServiceConfiguration(kind: .rights, environment: environment)
      return try await makeRightsServer(service: service, environment: reader, logger: silentLogger, now: { clock.now() })
    case .blocklist:
      let service = try ServiceConfiguration(kind: .blocklist, environment: environment)
      return try await makeBlocklistServer(service: service, environment: reader, logger: silentLogger, now: { clock.now() })
    }
  }

  func gateway(backends: [BackendKind: Int], extra: [String: String] = [:]) async throws -> PrivacyServer {
    let configuration = try gatewayConfiguration(backends: backends, extra: extra)
    let clock = self.clock
    return try await makeGatewayServer(configuration: configuration, logger: silentLogger, now: { clock.now() })
  }

  func gatewayConfiguration(backends: [BackendKind: Int], extra: [String: String] = [:]) throws -> GatewayConfiguration {
    // A backend deadline of 20 s rather than the production 5 s: with many fixtures starting at
    // once on two cores a healthy in-process backend can take longer than 5 s to answer. Tests
    // of the deadline itself set their own.
    var environment = testEnvironment(
      database: auditPath, extra: ["GATEWAY_API_KEYS_FILE": keysPath, "GATEWAY_BACKEND_TIMEOUT_MS": "20000"])
    for kind in BackendKind.allCases {
      environment[kind.addressVariable] = "127.0.0.1:\(backends[kind] ?? closedPort())"
    }
    environment.merge(extra) { _, new in new }
    let service = try ServiceConfiguration(kind: .gateway, environment: environment)
    return try GatewayConfiguration(service: service, environment: EnvironmentReader(environment))
  }

  /// Runs the backends (except those `down`) and the gateway; `body` gets the gateway's port and
  /// the backends' ports.
  func run<T: Sendable>(
    down: Set<BackendKind> = [], gatewayEnvironment: [String: String] = [:], backendEnvironment: [String: String] = [:],
    _ body: (_ gateway: Int, _ backends: [BackendKind: Int]) async throws -> T
  ) async throws -> T {
    try await runBackends(Array(BackendKind.allCases.filter { !down.contains($0) }), extra: backendEnvironment, ports: [:]) { ports async throws in
      try await withRunningServer(try await gateway(backends: ports, extra: gatewayEnvironment)) { port async throws in
        try await body(port, ports)
      }
    }
  }

  /// Runs the backends only (a test then starts and stops gateways itself).
  func runBackends<T: Sendable>(
    _ kinds: [BackendKind] = BackendKind.allCases, extra: [String: String] = [:], ports: [BackendKind: Int] = [:],
    _ body: ([BackendKind: Int]) async throws -> T
  ) async throws -> T {
    guard let kind = kinds.first else { return try await body(ports) }
    return try await withRunningServer(try await backend(kind, extra: extra)) { port async throws in
      var ports = ports
      ports[kind] = port
      return try await runBackends(Array(kinds.dropFirst()), extra: extra, ports: ports, body)
    }
  }

  /// A second connection to the gateway's audit database, as someone with file access.
  func auditDatabase() throws -> DatabaseQueue { try DatabaseQueue(path: auditPath) }

  func executeOnAudit(_ sql: String) throws {
    try auditDatabase().write { try $0.execute(sql: sql) }
  }
}

/// Runs `body` with a client authenticated by the role's test API key.
func asRole<T: Sendable>(_ role: String, port: Int, _ body: (GRPCClient<Transport>) async throws -> T) async throws -> T {
  try await withGatewayClient(port: port, authorization: "Bearer \(apiKey(role))", body)
}

// MARK: Test data

/// Test fields, one per interesting classification, and a record holding a value in each.
enum TestData {
  static let subject = "c-1001"
  /// Clear values of the SENSITIVE fields: no role without CLEAR or REVEAL may ever receive them.
  static let iban = "DE89370400440532013000"
  static let diagnosis = "asthma bronchiale"
  static let nationalID = "AB123456C"
  static let values: [String: String] = [
    "segment": "gold", "name": "Ada Lovelace", "email": "ada@example.org", "iban": iban, "diagnosis": diagnosis,
    "national_id": nationalID,
  ]

  static let fields: [Privacy_Vault_V1_UpsertFieldRequest] = [
    .with { $0.name = "segment"; $0.classification = .none },
    .with { $0.name = "name"; $0.classification = .personal },
    .with { $0.name = "email"; $0.classification = .personal; $0.mask = .email; $0.searchable = true; $0.tags = ["email"] },
    .with { $0.name = "iban"; $0.classification = .sensitive; $0.mask = .last4; $0.tags = ["billing"] },
    .with { $0.name = "diagnosis"; $0.classification = .sensitive; $0.specialCategory = .health },
    .with { $0.name = "national_id"; $0.classification = .sensitive; $0.mask = .last4; $0.tags = ["national_id"] },
  ]

  /// Defines the fields and writes the record, straight to the vault with the internal token.
  static func seed(vaultPort: Int) async throws {
    try await withTestClient(port: vaultPort) { client async throws in
      let vault = VaultClient(wrapping: client)
      for field in fields { _ = try await vault.upsertField(field) }
      _ = try await vault.putRecord(.with {
        $0.subjectID = subject
        $0.values = values
        $0.source = .with {
          $0.channel = .webform
          $0.ipAddress = "203.0.113.7"
        }
      })
    }
  }
}

extension Privacy_Vault_V1_Record {
  func field(_ name: String) -> Privacy_Vault_V1_FieldValue? { fields.first { $0.name == name } }
}
