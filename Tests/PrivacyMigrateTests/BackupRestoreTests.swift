import Foundation
import PrivacyGateway
import PrivacyKit
import PrivacyMigrate
import PrivacyTesting
import Testing

/// The backups the README describes, restored: every chain verifies on the copy and the services
/// answer from it as they did from the original.
@Suite("Backups restored")
struct BackupRestoreTests {
  @Test("SQLite: an online backup of each file (the SQLite backup API) serves as the original did")
  func sqliteBackup() async throws {
    let suite = try await SeededSuite()
    defer { suite.directory.remove() }
    let original = try await answers(
      suite, consent: "sqlite://\(suite.path("consent-service"))", vault: "sqlite://\(suite.path("vault-service"))")
    for service in ["consent-service", "vault-service", "gateway"] {
      let script = "import sqlite3, sys; sqlite3.connect(sys.argv[1]).backup(sqlite3.connect(sys.argv[2]))"
      #expect(try run("/usr/bin/env", ["python3", "-c", script, suite.path(service), suite.directory.path("backup-\(service).sqlite")]) == 0)
    }
    let restored = try await answers(
      suite, consent: "sqlite://\(suite.directory.path("backup-consent-service.sqlite"))",
      vault: "sqlite://\(suite.directory.path("backup-vault-service.sqlite"))")
    #expect(restored == original && restored.ledger?.valid == true && restored.accessLog?.valid == true)
    try await suite.expectAuditChainWhole(try GatewayStores.open(sqlite: suite.directory.path("backup-gateway.sqlite")))
  }

  @Test(
    "PostgreSQL: pg_dump of the suite's database, restored by pg_restore into a new one, serves as the original did",
    .enabled(if: PostgresTestDatabase.isAvailable))
  func postgresBackup() async throws {
    let bin = try #require(ProcessInfo.processInfo.environment["PRIVACY_TEST_POSTGRES_BIN"])
    let suite = try await SeededSuite()
    defer { suite.directory.remove() }
    try await PostgresTestDatabase.with { original in
      for service in Migrator.services {
        _ = try await Migrator.migrate(service: service, from: suite.path(service), to: try original.settings, logger: silentLogger)
      }
      let before = try await answers(suite, consent: original.url, vault: original.url)
      let dump = suite.directory.path("privacy.dump")
      #expect(try run("\(bin)/pg_dump", ["--format=custom", "--file=\(dump)", original.url]) == 0)
      try await PostgresTestDatabase.with { copy in
        #expect(try run("\(bin)/pg_restore", ["--no-owner", "--exit-on-error", "--dbname=\(copy.url)", dump]) == 0)
        let restored = try await answers(suite, consent: copy.url, vault: copy.url)
        #expect(restored == before && restored.ledger?.valid == true && restored.accessLog?.valid == true)
        try await suite.expectAuditChainWhole(try await GatewayStores.open(postgres: try copy.settings, logger: silentLogger))
      }
    }
  }
}

/// Runs a program to its end (posix_spawn: Foundation's Process crashes intermittently on Linux)
/// and returns its exit status; its output goes to the test's.
private func run(_ path: String, _ arguments: [String]) throws -> Int32 {
  var pid: pid_t = 0
  let argv = ([path] + arguments).map { strdup($0) } + [nil]
  defer { for pointer in argv { free(pointer) } }
  let status = posix_spawn(&pid, path, nil, nil, argv, environ)
  guard status == 0 else { throw POSIXError(POSIXErrorCode(rawValue: status) ?? .EIO) }
  var exit: Int32 = 0
  while waitpid(pid, &exit, 0) == -1 && errno == EINTR {}
  return (exit & 0x7f) == 0 ? (exit >> 8) & 0xff : 128 + (exit & 0x7f)
}
