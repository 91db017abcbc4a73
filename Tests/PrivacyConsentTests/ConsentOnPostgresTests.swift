import Foundation
import PrivacyConsent
import PrivacyKit
import PrivacyTesting
import Testing

/// What only PostgreSQL has. The consent service's behaviour on PostgreSQL is the consent test
/// suites run a second time on it (`scripts/test`, `PRIVACY_TEST_CONSENT_STORE=postgres`).
@Suite("Consent on PostgreSQL", .enabled(if: PostgresTestDatabase.isAvailable))
struct ConsentOnPostgresTests {
  private func event(_ subject: String, after head: ChainHead) -> LedgerCommit {
    var commit = LedgerCommit(head: head, now: Date(), caller: CallerIdentity(actor: "test", role: "service", requestID: "r-1"))
    commit.append(EventDraft(subjectID: subject, kind: .restrictionChanged, evidence: Evidence(channel: .api, capturedAt: Date())))
    return commit
  }

  @Test("a commit made on a ledger head that is no longer the last fails whole: the chain cannot fork")
  func staleHead() async throws {
    try await PostgresTestDatabase.with { database in
      let first = try await PostgresConsentStore.open(try database.settings, logger: silentLogger)
      let second = try await PostgresConsentStore.open(try database.settings, logger: silentLogger)
      let winner = event("s-1", after: .empty)
      try await first.commit(winner)
      var loser = event("s-2", after: .empty)
      loser.subjectStates = ["s-2": SubjectState()]
      await #expect(throws: LedgerHeadMoved(expected: 0, found: 1)) { try await second.commit(loser) }
      #expect(try await second.events(EventQuery(limit: 10)).map(\.subjectID) == ["s-1"])
      #expect(try await second.subjectStates()["s-2"] == nil)
      try await second.commit(event("s-2", after: winner.head))
      #expect(try await first.events(EventQuery(limit: 10)).map(\.sequence) == [1, 2])
    }
  }

  @Test("the ledger refuses updates of what an event recorded, deletes and truncation")
  func appendOnly() async throws {
    try await PostgresTestDatabase.with { database in
      let store = try await PostgresConsentStore.open(try database.settings, logger: silentLogger)
      try await store.commit(event("s-1", after: .empty))
      for statement in [
        "UPDATE consent_events SET reason = 'edited'", "DELETE FROM consent_events", "TRUNCATE consent_events",
      ] {
        await #expect(throws: (any Error).self, "\(statement)") { try await PostgresTestDatabase.administer(database.url, statement) }
      }
      // Erasure may clear the personal evidence columns.
      try await PostgresTestDatabase.administer(database.url, "UPDATE consent_events SET ip_address = ''")
      #expect(try await store.events(EventQuery(limit: 10)).count == 1)
    }
  }

  @Test("a second consent-service on the same database is refused at start, naming DATABASE_URL")
  func soleReplica() async throws {
    try await PostgresTestDatabase.with { database in
      let fixture = try ConsentFixture(environment: ["DATABASE_URL": database.url])
      try await withRunningServer(try await fixture.makeServer()) { _ in
        do {
          _ = try await fixture.makeServer()
          Issue.record("a second replica started")
        } catch let error as ConfigurationError {
          #expect(error.variable == "DATABASE_URL")
          #expect(error.problem.contains("another consent-service already serves"))
        }
      }
    }
  }
}
