import Foundation
import GRDB
import GRPCCore
import GRPCNIOTransportHTTP2
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import PrivacyVault
import Synchronization
import Testing

/// Leaves a test out of the PostgreSQL pass: it opens the SQLite file.
let sqliteOnly = ConditionTrait.enabled(if: !VaultFixture.onPostgres, "opens the SQLite file")

typealias VaultClient = Privacy_Vault_V1_VaultService.Client<HTTP2ClientTransport.Posix>

/// Fixed test keys (32 bytes each, base64).
enum TestKeys {
  static let first = Data(repeating: 0x11, count: 32).base64EncodedString()
  static let second = Data(repeating: 0x22, count: 32).base64EncodedString()
  static let third = Data(repeating: 0x33, count: 32).base64EncodedString()
}

/// A vault service on a temporary SQLite file and a hand-moved clock. `run` starts a real server
/// on an ephemeral port and talks to it over HTTP/2; calling `run` again restarts it on the same
/// file, optionally with other environment values (another keyring).
final class VaultFixture: Sendable {
  let directory: TestDirectory
  let clock: TestClock
  let databasePath: String
  let environment: [String: String]

  init(environment extra: [String: String] = [:]) throws {
    directory = try TestDirectory()
    clock = TestClock()
    databasePath = directory.path("vault.sqlite")
    environment = testEnvironment(database: databasePath, extra: ["VAULT_MASTER_KEY": TestKeys.first].merging(extra) { _, new in new })
  }

  deinit { directory.remove() }

  /// With `PRIVACY_TEST_VAULT_STORE=postgres` (the PostgreSQL pass of `scripts/test`), the
  /// service runs on a database of its own on the test cluster instead of the SQLite file; tests
  /// that open the file are left out of that pass (`sqliteOnly`).
  static let onPostgres = ProcessInfo.processInfo.environment["PRIVACY_TEST_VAULT_STORE"] == "postgres"
  private let postgresURL = Mutex<String?>(nil)

  /// The `DATABASE_URL` of the PostgreSQL database the service runs on (in the PostgreSQL pass).
  func postgresDatabase() async throws -> String {
    if let url = postgresURL.withLock({ $0 }) { return url }
    let url = try await PostgresTestDatabase.create()
    postgresURL.withLock { $0 = url }
    return url
  }

  func makeServer(environment overrides: [String: String] = [:]) async throws -> PrivacyServer {
    var environment = self.environment.merging(overrides) { _, new in new }
    if Self.onPostgres, environment["DATABASE_URL"] == "sqlite://\(databasePath)" {
      environment["DATABASE_URL"] = try await postgresDatabase()
    }
    let service = try ServiceConfiguration(kind: .vault, environment: environment)
    let configuration = try VaultConfiguration(service: service, environment: EnvironmentReader(environment))
    let clock = self.clock
    return try await makeVaultServer(configuration: configuration, logger: silentLogger, now: { clock.now() })
  }

  func run<T: Sendable>(
    identity: CallerIdentity = CallerIdentity(actor: "crm-sync", role: "service", requestID: "req-1"),
    environment overrides: [String: String] = [:],
    _ body: (VaultClient) async throws -> T
  ) async throws -> T {
    try await withRunningServer(try await makeServer(environment: overrides)) { port async throws in
      try await withTestClient(port: port, identity: identity) { client async throws in
        try await body(VaultClient(wrapping: client))
      }
    }
  }

  /// A second connection to the live file, as an attacker (or a test seam) with file access.
  func database() throws -> DatabaseQueue {
    try DatabaseQueue(path: databasePath)
  }

  func execute(_ sql: String) throws {
    try database().write { try $0.execute(sql: sql) }
  }

  var files: [String] { SQLiteDatabase.files(of: databasePath) }
}

/// Runs `body` against a fresh vault service.
func withVaultService<T: Sendable>(
  environment: [String: String] = [:],
  identity: CallerIdentity = CallerIdentity(actor: "crm-sync", role: "service", requestID: "req-1"),
  _ body: (VaultClient, VaultFixture) async throws -> T
) async throws -> T {
  let fixture = try VaultFixture(environment: environment)
  return try await fixture.run(identity: identity) { client in try await body(client, fixture) }
}

// MARK: Builders

func source(
  _ channel: Privacy_Common_V1_Channel = .webform, form: String = "signup", ip: String = "",
  actorKind: Privacy_Common_V1_ActorKind = .subject
) -> Privacy_Vault_V1_ValueSource {
  .with {
    $0.channel = channel
    $0.formName = form
    $0.ipAddress = ip
    $0.actorKind = actorKind
  }
}

func field(
  _ name: String, _ classification: Privacy_Vault_V1_Classification, mask: Privacy_Vault_V1_Mask = .unspecified,
  searchable: Bool = false, tags: [String] = [], encrypted: Bool? = nil,
  special: Privacy_Vault_V1_SpecialCategory = .unspecified, criminal: Bool = false,
  rule: Privacy_Vault_V1_GeneralizationRule? = nil, description: String = ""
) -> Privacy_Vault_V1_UpsertFieldRequest {
  .with {
    $0.name = name
    $0.classification = classification
    $0.mask = mask
    $0.searchable = searchable
    $0.tags = tags
    if let encrypted { $0.encrypted = encrypted }
    $0.specialCategory = special
    $0.criminalOffence = criminal
    if let rule { $0.generalization = rule }
    $0.description_p = description
  }
}

func keepPrefix(_ n: Int32) -> Privacy_Vault_V1_GeneralizationRule { .with { $0.keepPrefix = n } }
func yearOnly() -> Privacy_Vault_V1_GeneralizationRule { .with { $0.yearOnly = .init() } }
func bucket(_ width: Int64) -> Privacy_Vault_V1_GeneralizationRule { .with { $0.bucketWidth = width } }

/// What a rejected call must leave untouched: the schema, the record (if any) and the access log.
struct VaultSnapshot: Equatable {
  var fields: [Privacy_Vault_V1_FieldDefinition]
  var record: Privacy_Vault_V1_Record?
  var log: [Privacy_Vault_V1_AccessLogEntry]
}

extension VaultClient {
  @discardableResult
  func define(_ request: Privacy_Vault_V1_UpsertFieldRequest) async throws -> Privacy_Vault_V1_FieldDefinition {
    try await upsertField(request).field
  }

  /// A schema used by most tests: PERSONAL email (searchable, EMAIL mask) and name, SENSITIVE iban
  /// (LAST4, tagged billing) and diagnosis (art 9 health), NONE purchase_total and segment
  /// (searchable), and three NONE quasi-identifiers.
  func defineStandardFields() async throws {
    try await define(field("email", .personal, mask: .email, searchable: true, tags: ["email"]))
    try await define(field("name", .personal))
    try await define(field("phone", .personal, mask: .last4, searchable: true, tags: ["phone"]))
    try await define(field("iban", .sensitive, mask: .last4, tags: ["billing"]))
    try await define(field("diagnosis", .unspecified, special: .health))
    try await define(field("purchase_total", .none))
    try await define(field("segment", .none, searchable: true))
    try await define(field("zip", .none, tags: ["quasi_identifier"], rule: keepPrefix(3)))
    try await define(field("birth_date", .none, tags: ["quasi_identifier"], rule: yearOnly()))
    try await define(field("gender", .none, tags: ["quasi_identifier"]))
  }

  @discardableResult
  func put(
    _ subject: String, _ values: [String: String], source: Privacy_Vault_V1_ValueSource = source()
  ) async throws -> Privacy_Vault_V1_PutRecordResponse {
    try await putRecord(.with {
      $0.subjectID = subject
      $0.values = values
      $0.source = source
    })
  }

  func get(_ subject: String) async throws -> Privacy_Vault_V1_Record {
    try await getRecord(.with { $0.subjectID = subject }).record
  }

  func reveal(_ subject: String, _ field: String, reason: String = "customer asked to confirm") async throws -> Privacy_Vault_V1_RevealFieldResponse {
    try await revealField(.with {
      $0.subjectID = subject
      $0.field = field
      $0.reason = reason
    })
  }

  func erase(_ subject: String, reason: String = "art 17 request r-1") async throws -> Privacy_Vault_V1_ErasePersonalDataResponse {
    try await erasePersonalData(.with {
      $0.subjectID = subject
      $0.reason = reason
    })
  }

  func restrict(_ subject: String, _ restricted: Bool = true, reason: String = "art 18 request r-2") async throws -> Privacy_Vault_V1_SetRestrictionResponse {
    try await setRestriction(.with {
      $0.subjectID = subject
      $0.restricted = restricted
      $0.reason = reason
    })
  }

  func allFields() async throws -> [Privacy_Vault_V1_FieldDefinition] {
    try await listFields(.with { $0.pageSize = 1000 }).fields
  }

  func accessLog(_ configure: (inout Privacy_Vault_V1_ListAccessLogRequest) -> Void = { _ in }) async throws -> [Privacy_Vault_V1_AccessLogEntry] {
    var entries: [Privacy_Vault_V1_AccessLogEntry] = []
    var request = Privacy_Vault_V1_ListAccessLogRequest()
    configure(&request)
    request.pageSize = 1000
    repeat {
      let page = try await listAccessLog(request)
      entries += page.entries
      request.pageToken = page.nextPageToken
    } while !request.pageToken.isEmpty
    return entries
  }

  func verify() async throws -> Privacy_Common_V1_ChainVerification {
    try await verifyAccessLog(.init()).verification
  }

  func snapshot(_ subject: String) async throws -> VaultSnapshot {
    let record = try? await get(subject)
    return VaultSnapshot(fields: try await allFields(), record: record, log: try await accessLog())
  }

  func value(_ subject: String, _ field: String) async throws -> Privacy_Vault_V1_FieldValue? {
    try await get(subject).fields.first { $0.name == field }
  }
}

extension Privacy_Vault_V1_Record {
  func value(of field: String) -> String? {
    fields.first { $0.name == field }?.value
  }
}

/// Expects `body` to fail with `code` (and `reason` when given) and to change nothing visible
/// about `subject`.
func expectRejected(
  _ client: VaultClient, subject: String, _ code: RPCError.Code, reason: String? = nil,
  sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> some Any
) async throws {
  let before = try await client.snapshot(subject)
  let error = await capturedRPCError(body)
  #expect(error?.code == code, "got \(String(describing: error))", sourceLocation: sourceLocation)
  if let reason {
    #expect(error?.errorInfoReason == reason, "got \(String(describing: error))", sourceLocation: sourceLocation)
  }
  let after = try await client.snapshot(subject)
  #expect(before == after, "a rejected call changed state", sourceLocation: sourceLocation)
}

/// Whether any of `files` contains `bytes` (for sealed values and wrapped keys).
func filesContain(_ files: [String], bytes: Data) -> Bool {
  files.contains { path in FileManager.default.contents(atPath: path)?.range(of: bytes) != nil }
}
