import Foundation
import GRDB
import GRPCCore
import PrivacyProtocol
import PrivacyTesting
import Testing

/// Tampering is done through a second SQLite connection to the live file, as an attacker with
/// file access would: the append-only triggers are dropped first, then rows are edited, deleted
/// or reordered.
@Suite("Hash-chained ledger")
struct LedgerIntegrityTests {
  private func tamper(_ fixture: ConsentFixture, _ sql: String) throws {
    let queue = try DatabaseQueue(path: fixture.databasePath)
    try queue.write { db in
      try db.execute(sql: "DROP TRIGGER IF EXISTS consent_events_append_only_update")
      try db.execute(sql: "DROP TRIGGER IF EXISTS consent_events_append_only_delete")
      try db.execute(sql: sql)
    }
  }

  private func seed(_ client: ConsentClient) async throws {
    try await client.upsert(purpose("newsletter"))
    for index in 1...6 {
      try await client.record("c\(index % 3)", "newsletter", index % 2 == 0 ? .withdrawn : .granted)
    }
  }

  @Test("an untouched ledger verifies, whole and per subject")
  func intact() async throws {
    try await withConsentService { client, _ async throws in
      try await seed(client)
      let all = try await client.verify()
      #expect(all.valid && all.entriesChecked == 6 && all.firstBrokenSequence == 0)
      #expect(all.headHash == (try await client.allEvents().last?.hash))
      let one = try await client.verify(subject: "c1")
      #expect(one.valid && one.entriesChecked == 2)
    }
  }

  @Test("the ledger refuses updates and deletes through SQL")
  func appendOnly() async throws {
    try await withConsentService { client, fixture async throws in
      try await seed(client)
      let queue = try DatabaseQueue(path: fixture.databasePath)
      #expect(throws: DatabaseError.self) { try queue.write { try $0.execute(sql: "UPDATE consent_events SET decision = 'granted'") } }
      #expect(throws: DatabaseError.self) { try queue.write { try $0.execute(sql: "DELETE FROM consent_events WHERE sequence = 3") } }
      #expect(try await client.verify().valid)
    }
  }

  @Test("an edited event is named as the first broken one")
  func edited() async throws {
    try await withConsentService { client, fixture async throws in
      try await seed(client)
      try tamper(fixture, "UPDATE consent_events SET decision = 'granted' WHERE sequence = 4")
      let result = try await client.verify()
      #expect(!result.valid && result.firstBrokenSequence == 4)
      #expect(result.problem.contains("hash"))
      let subject = try await client.verify(subject: "c1")
      #expect(!subject.valid && subject.firstBrokenSequence == 4)
    }
  }

  @Test("edited personal evidence is caught through its digest")
  func editedEvidence() async throws {
    try await withConsentService { client, fixture async throws in
      try await seed(client)
      try tamper(fixture, "UPDATE consent_events SET ip_address = '198.51.100.1' WHERE sequence = 2")
      let result = try await client.verify()
      #expect(!result.valid && result.firstBrokenSequence == 2 && result.problem.contains("digest"))
    }
  }

  @Test("a deleted event leaves a gap that is named")
  func deleted() async throws {
    try await withConsentService { client, fixture async throws in
      try await seed(client)
      try tamper(fixture, "DELETE FROM consent_events WHERE sequence = 3")
      let result = try await client.verify()
      #expect(!result.valid && result.firstBrokenSequence == 3)
      #expect(result.problem.contains("gap"))
      let subject = try await client.verify(subject: "c1")  // c1 holds event 4, whose predecessor is gone
      #expect(!subject.valid && subject.firstBrokenSequence == 4)
    }
  }

  @Test("deleting the last events is noticed against what the service wrote")
  func truncated() async throws {
    try await withConsentService { client, fixture async throws in
      try await seed(client)
      try tamper(fixture, "DELETE FROM consent_events WHERE sequence >= 5")
      let result = try await client.verify()
      #expect(!result.valid && result.firstBrokenSequence == 5)
    }
  }

  @Test("reordered events are detected")
  func reordered() async throws {
    try await withConsentService { client, fixture async throws in
      try await seed(client)
      try tamper(
        fixture,
        """
        UPDATE consent_events SET sequence = -1 WHERE sequence = 2;
        UPDATE consent_events SET sequence = 2 WHERE sequence = 3;
        UPDATE consent_events SET sequence = 3 WHERE sequence = -1;
        """)
      let result = try await client.verify()
      #expect(!result.valid && result.firstBrokenSequence == 2)
    }
  }

  @Test("an unreadable value is reported as broken, not as a server error")
  func unreadable() async throws {
    try await withConsentService { client, fixture async throws in
      try await seed(client)
      try tamper(fixture, "UPDATE consent_events SET decision = 'maybe' WHERE sequence = 5")
      let result = try await client.verify()
      #expect(!result.valid && result.firstBrokenSequence == 5 && result.problem.contains("unreadable"))
    }
  }
}
