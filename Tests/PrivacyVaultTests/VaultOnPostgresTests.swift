import Foundation
import GRPCCore
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import PrivacyVault
import Testing

/// What only PostgreSQL has: the access log's chain kept whole by the database, and replicas.
/// The vault's behaviour on PostgreSQL is the vault test suites run a second time on it
/// (`scripts/test`, `PRIVACY_TEST_VAULT_STORE=postgres`).
@Suite("Vault on PostgreSQL", .enabled(if: PostgresTestDatabase.isAvailable))
struct VaultOnPostgresTests {
  private let caller = CallerIdentity(actor: "test", role: "service", requestID: "r-1")

  private func entry(_ subject: String, after head: ChainHead) -> VaultCommit {
    var commit = VaultCommit(head: head, now: Date(), caller: caller)
    commit.log(AccessDraft(.reveal, subjectID: subject, field: "email", reason: "test"))
    return commit
  }

  @Test("a commit made on an access-log head that is no longer the last fails whole: the chain cannot fork")
  func staleHead() async throws {
    try await PostgresTestDatabase.with { database in
      let first = try await PostgresVaultStore.open(try database.settings, logger: silentLogger)
      let second = try await PostgresVaultStore.open(try database.settings, logger: silentLogger)
      let winner = entry("s-1", after: .empty)
      try await first.commit(winner)
      var loser = entry("s-2", after: .empty)
      loser.quasiIdentifierCountedFields = ["zip"]
      await #expect(throws: AccessLogHeadMoved(expected: 0, found: 1)) { try await second.commit(loser) }
      #expect(try await second.accessLog(AccessLogQuery(limit: 10)).map(\.subjectID) == ["s-1"])
      #expect(try await second.quasiIdentifierCountedFields() == nil)
      try await second.commit(entry("s-2", after: winner.head))
      #expect(try await first.accessLog(AccessLogQuery(limit: 10)).map(\.sequence) == [1, 2])
    }
  }

  @Test("the access log refuses updates, deletes and truncation")
  func appendOnly() async throws {
    try await PostgresTestDatabase.with { database in
      let store = try await PostgresVaultStore.open(try database.settings, logger: silentLogger)
      try await store.commit(entry("s-1", after: .empty))
      for statement in [
        "UPDATE vault_access_log SET reason = 'edited'", "DELETE FROM vault_access_log", "TRUNCATE vault_access_log",
      ] {
        await #expect(throws: (any Error).self, "\(statement)") { try await PostgresTestDatabase.administer(database.url, statement) }
      }
      #expect(try await store.accessLog(AccessLogQuery(limit: 10)).count == 1)
    }
  }

  /// Runs two replicas of the vault on one database, started at once (clients `a` and `b`). With
  /// 600 s of staleness allowed their periodic catch-up comes every 150 s: what one knows within
  /// seconds of the other's write, it was told.
  private func withReplicas<T: Sendable>(
    _ database: PostgresTestDatabase, _ body: (_ a: VaultClient, _ b: VaultClient) async throws -> T
  ) async throws -> T {
    let fixture = try VaultFixture(environment: ["DATABASE_URL": database.url, "REPLICA_MAX_STALENESS_MS": "600000"])
    async let first = fixture.makeServer()
    async let second = fixture.makeServer()
    let (aServer, bServer) = try await (first, second)
    return try await withRunningServer(aServer) { aPort in
      try await withRunningServer(bServer) { bPort in
        try await withTestClient(port: aPort) { a in
          try await withTestClient(port: bPort) { b in try await body(VaultClient(wrapping: a), VaultClient(wrapping: b)) }
        }
      }
    }
  }

  @Test("replicas started at once share one blind-index key, and a field defined on one is known to the other at once")
  func following() async throws {
    try await PostgresTestDatabase.with { database in
      try await withReplicas(database) { a, b in
        try await a.define(field("email", .personal, mask: .email, searchable: true))
        _ = try #require(try await elapsedUntil { try await b.allFields().map(\.name) == ["email"] })
        try await b.put("c-1", ["email": "one@example.com"])
        let found = try await a.findByField(.with {
          $0.field = "email"
          $0.value = "ONE@example.com"
        })
        #expect(found.records.map(\.subjectID) == ["c-1"])
        // A schema change on b (raised to SENSITIVE) is what a reads next.
        try await b.define(field("email", .sensitive, mask: .email, searchable: true))
        _ = try #require(try await elapsedUntil { try await a.allFields().first?.classification == .sensitive })
      }
    }
  }

  @Test("writes through both replicas at once: every one acknowledged is in one access log that verifies on both")
  func concurrentWrites() async throws {
    try await PostgresTestDatabase.with { database in
      try await withReplicas(database) { a, b in
        try await a.defineStandardFields()
        _ = try #require(try await elapsedUntil { try await b.allFields().count == 10 })
        let before = try await a.accessLog().count
        // Each acknowledged write adds one entry per field it changed.
        let writes = try await withThrowingTaskGroup(of: (String, Privacy_Vault_V1_PutRecordResponse).self) { group in
          for index in 0..<40 {
            let client = index.isMultiple(of: 2) ? a : b
            // Some subjects written through both replicas, in any order.
            let subject = "c-\(index % 25)"
            group.addTask { (subject, try await client.put(subject, ["email": "p\(index)@example.com", "zip": "1011\(index % 3)"])) }
          }
          return try await group.reduce(into: []) { $0.append($1) }
        }
        // Each subject's writes got versions 1, 2, ... in turn, whichever replica took them.
        for (subject, responses) in Dictionary(grouping: writes, by: \.0) {
          #expect(responses.map(\.1.version).sorted() == Array(1...Int64(responses.count)), "\(subject)")
        }
        let added = writes.reduce(0) { $0 + $1.1.changedFields.count }
        for client in [a, b] {
          let verification = try await client.verify()
          #expect(verification.valid, "\(verification.problem)")
          #expect(verification.entriesChecked == UInt64(before + added))
        }
        #expect(try await b.get("c-0").version == 2)
      }
    }
  }
}
