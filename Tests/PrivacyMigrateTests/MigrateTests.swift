import Foundation
import GRDB
import GRPCCore
import GRPCNIOTransportHTTP2
import PrivacyConsent
import PrivacyGateway
import PrivacyKit
import PrivacyMigrate
import PrivacyProtocol
import PrivacySeed
import PrivacySuite
import PrivacyTesting
import PrivacyVault
import Testing

typealias ConsentClient = Privacy_Consent_V1_ConsentService.Client<HTTP2ClientTransport.Posix>
typealias VaultClient = Privacy_Vault_V1_VaultService.Client<HTTP2ClientTransport.Posix>

/// A seeded suite on SQLite (every backend, plus a gateway audit log with checkpoints), the
/// answers its services give, and the files' row counts.
struct SeededSuite {
  let directory: TestDirectory
  let secrets: DevSecrets
  let auditKey: AuditKey
  let auditEntries = 40

  static let subjects = 150
  static let purposes = ["newsletter", "analytics", "partners", "crm"]

  init() async throws {
    directory = try TestDirectory()
    secrets = try DevSecrets.ensure(in: directory.url)
    _ = try await Seeder.run(
      subjects: Self.subjects, directory: directory.url, masterKeyFile: secrets.vaultMasterKeyFile, pepperFile: secrets.blocklistPepperFile,
      logger: silentLogger)
    auditKey = try AuditKey(secret: Data(base64Encoded: try String(contentsOfFile: secrets.gatewayAuditKeyFile, encoding: .utf8)
      .trimmingCharacters(in: .whitespacesAndNewlines))!)
    let log = try await AuditLog.open(store: try GatewayStores.open(sqlite: path("gateway")).audit, key: auditKey, logger: silentLogger)
    for index in 0..<auditEntries {
      _ = try await log.record(
        AuditDraft(
          requestID: "r-\(index)", actor: "dana", role: "dpo", method: "privacy.vault.v1.VaultService/RevealField",
          subjectID: "seed-\(index)", fieldsRevealed: ["iban"], reason: "refund \(index)", statusCode: 0))
      if index % 10 == 9 { await log.checkpoint() }
    }
  }

  func path(_ service: String) -> String { directory.path(Migrator.file(of: service)) }

  /// Verifies the gateway's audit chain and its signed checkpoints in `stores`: every entry the
  /// suite recorded is there and the chain is whole.
  func expectAuditChainWhole(_ stores: GatewayStores, sourceLocation: SourceLocation = #_sourceLocation) async throws {
    let log = try await AuditLog.open(store: stores.audit, key: auditKey, logger: silentLogger)
    let checkpoints = try await log.checkpoints(after: 0, limit: 100)
    #expect(checkpoints.count == auditEntries / 10, sourceLocation: sourceLocation)
    let verification = try await log.verify(checkpoints: checkpoints)
    #expect(verification.valid && verification.entriesChecked == UInt64(auditEntries), sourceLocation: sourceLocation)
  }

  /// Rows per table of one service's file, by table name.
  func rowCounts(_ service: String) throws -> [String: Int] {
    try DatabaseQueue(path: path(service)).read { db in
      var counts: [String: Int] = [:]
      for table in try String.fetchAll(
        db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != 'grdb_migrations'")
      {
        counts[table] = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \"\(table)\"")
      }
      return counts
    }
  }

  /// The environment of a consent or vault service on `database`.
  func environment(database: String) -> [String: String] {
    testEnvironment(database: "", extra: ["DATABASE_URL": database, "VAULT_MASTER_KEY_FILE": secrets.vaultMasterKeyFile])
  }
}

/// What a consent service and a vault service answer about the seeded subjects.
struct Answers: Equatable {
  var decisions: [String] = []
  var ledger: Privacy_Common_V1_ChainVerification?
  var records: [Privacy_Vault_V1_Record] = []
  var accessLog: Privacy_Common_V1_ChainVerification?

  static func read(consent: ConsentClient, vault: VaultClient) async throws -> Answers {
    var answers = Answers()
    for index in stride(from: 0, to: SeededSuite.subjects, by: 7) {
      for purpose in SeededSuite.purposes {
        let answer = try await consent.checkConsent(.with {
          $0.subjectID = "seed-\(index)"
          $0.purposeID = purpose
        })
        answers.decisions.append("\(index) \(purpose) \(answer.allowed) \(answer.eventSequence)")
      }
      answers.records.append(try await vault.getRecord(.with { $0.subjectID = "seed-\(index)" }).record)
    }
    answers.ledger = try await consent.verifyLedger(.init()).verification
    answers.accessLog = try await vault.verifyAccessLog(.init()).verification
    return answers
  }
}

/// Runs a consent and a vault service on their databases and reads their answers.
func answers(_ suite: SeededSuite, consent consentDatabase: String, vault vaultDatabase: String) async throws -> Answers {
  let consentEnvironment = suite.environment(database: consentDatabase)
  let consentService = try ServiceConfiguration(kind: .consent, environment: consentEnvironment)
  let consent = try await makeConsentServer(
    configuration: try ConsentConfiguration(service: consentService, environment: EnvironmentReader(consentEnvironment)), logger: silentLogger)
  let vaultEnvironment = suite.environment(database: vaultDatabase)
  let vaultService = try ServiceConfiguration(kind: .vault, environment: vaultEnvironment)
  let vault = try await makeVaultServer(
    configuration: try VaultConfiguration(service: vaultService, environment: EnvironmentReader(vaultEnvironment)), logger: silentLogger)
  return try await withRunningServer(consent) { consentPort in
    try await withRunningServer(vault) { vaultPort in
      try await withTestClient(port: consentPort) { consentClient in
        try await withTestClient(port: vaultPort) { vaultClient in
          try await Answers.read(consent: ConsentClient(wrapping: consentClient), vault: VaultClient(wrapping: vaultClient))
        }
      }
    }
  }
}

@Suite("privacy-suite migrate", .enabled(if: PostgresTestDatabase.isAvailable))
struct MigrateTests {
  @Test("a seeded SQLite suite moves to PostgreSQL row for row; replicas there answer as SQLite did and every chain verifies")
  func migrateSuite() async throws {
    let suite = try await SeededSuite()
    defer { suite.directory.remove() }
    let before = try await answers(
      suite, consent: "sqlite://\(suite.path("consent-service"))", vault: "sqlite://\(suite.path("vault-service"))")
    try await PostgresTestDatabase.with { database in
      let settings = try database.settings
      for service in Migrator.services {
        let expected = try suite.rowCounts(service)
        let report = try await Migrator.migrate(service: service, from: suite.path(service), to: settings, logger: silentLogger)
        let copied: [Int] = report.tables.map(\.rows).sorted()
        let held: [Int] = expected.values.sorted()
        #expect(copied == held, "\(service)")
      }
      // Two replicas of consent and vault on the migrated database answer as the files did.
      let first = try await answers(suite, consent: database.url, vault: database.url)
      let second = try await answers(suite, consent: database.url, vault: database.url)
      #expect(first == second)
      #expect(first == before)
      #expect(first.ledger?.valid == true && (first.ledger?.entriesChecked ?? 0) > UInt64(SeededSuite.subjects))
      #expect(first.accessLog?.valid == true && (first.accessLog?.entriesChecked ?? 0) > UInt64(SeededSuite.subjects))
      // The gateway's audit chain and its signed checkpoints verify with the same key.
      try await suite.expectAuditChainWhole(try await GatewayStores.open(postgres: settings, logger: silentLogger))

      // A file of another service is refused before anything touches it.
      let tablesBefore = try suite.rowCounts("consent-service")
      await #expect(throws: MigrationRefused.self) {
        try await Migrator.migrate(service: "vault-service", from: suite.path("consent-service"), to: settings, logger: silentLogger)
      }
      #expect(try suite.rowCounts("consent-service") == tablesBefore)

      // A second migration into the same database is refused and changes nothing.
      await #expect(throws: MigrationRefused.self) {
        try await Migrator.migrate(service: "consent-service", from: suite.path("consent-service"), to: settings, logger: silentLogger)
      }
      #expect(try await answers(suite, consent: database.url, vault: database.url) == first)
    }
  }
}
