import Foundation
import GRPCCore
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Testing

/// `privacy-suite migrate`, the real executable: a seeded data directory moved into PostgreSQL,
/// then served from there by the real services.
@Suite("privacy-suite migrate", .enabled(if: PostgresTestDatabase.isAvailable))
struct MigrateCLITests {
  @Test("moves every service of a data directory into PostgreSQL, where the services serve it; refuses a second time and bad arguments")
  func migrateDataDirectory() async throws {
    let directory = try TestDirectory()
    defer { directory.remove() }
    let data = directory.path("data")
    let seed = try RunningProcess("privacy-suite", arguments: ["seed", "--subjects", "30", "--data-dir", data], environment: [:])
    #expect(try await seed.waitForExit(timeout: .seconds(120)) == 0)
    let sqliteLedger = try await ledger(environment: testEnvironment(database: "\(data)/consent-service.sqlite"))

    try await PostgresTestDatabase.with { database in
      let migrate = try RunningProcess("privacy-suite", arguments: ["migrate", "--to", database.url, "--data-dir", data], environment: [:])
      #expect(try await migrate.waitForExit(timeout: .seconds(120)) == 0, "\(migrate.standardError)")
      let services = migrate.standardOutput.split(separator: "\n").compactMap { $0.split(separator: ":").first.map(String.init) }
      for service in ["consent-service", "vault-service", "subject-rights-service", "blocklist-service", "gateway"] {
        #expect(services.contains(service), "\(migrate.standardOutput)")
      }
      let postgresLedger = try await ledger(environment: testEnvironment(database: "").merging(["DATABASE_URL": database.url]) { _, new in new })
      #expect(postgresLedger == sqliteLedger && postgresLedger.valid && postgresLedger.entriesChecked >= 4 * 30)

      let again = try RunningProcess("privacy-suite", arguments: ["migrate", "--to", database.url, "--data-dir", data], environment: [:])
      #expect(try await again.waitForExit(timeout: .seconds(60)) == 1)
      #expect(again.standardError.contains("already holds data"))
      #expect(!again.standardError.contains(database.url), "the URL (and a password in it) stays out of messages")
    }
    for arguments in [["migrate"], ["migrate", "--to", "sqlite:///x", "--data-dir", data], ["migrate", "--to", "postgres://u@h/d", "--bogus"]] {
      let refused = try RunningProcess("privacy-suite", arguments: arguments, environment: [:])
      #expect(try await refused.waitForExit() == 2, "\(arguments)")
    }
  }

  /// The consent ledger's verification as a real consent service on `environment` reports it.
  private func ledger(environment: [String: String]) async throws -> Privacy_Common_V1_ChainVerification {
    let process = try RunningProcess("consent-service", environment: environment)
    defer { process.signal(SIGTERM) }
    return try await withTestClient(port: try await process.listeningAddress().port) { client in
      try await Privacy_Consent_V1_ConsentService.Client(wrapping: client).verifyLedger(.init()).verification
    }
  }
}
