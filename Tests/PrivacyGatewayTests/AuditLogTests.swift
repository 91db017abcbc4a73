import Foundation
import GRDB
import PrivacyGateway
import PrivacyKit
import PrivacyTesting
import Testing

@Suite("Audit log: chain, tamper evidence, fail-closed, group commit")
struct AuditLogTests {
  /// An audit log on a temporary file.
  final class Fixture: Sendable {
    let directory: TestDirectory
    let path: String
    let clock = TestClock()

    init() throws {
      directory = try TestDirectory()
      path = directory.path("gateway.sqlite")
    }

    deinit { directory.remove() }

    func open() async throws -> AuditLog {
      let clock = self.clock
      return try await AuditLog.open(store: try SQLiteAuditStore(path: path), now: { clock.now() }, logger: silentLogger)
    }

    func execute(_ sql: String) throws {
      try DatabaseQueue(path: path).write { try $0.execute(sql: sql) }
    }

    /// Edits the file as someone with disk access would: around the append-only triggers.
    func tamper(_ sql: String) throws {
      try DatabaseQueue(path: path).write { db in
        try db.execute(sql: "DROP TRIGGER IF EXISTS audit_log_append_only_update")
        try db.execute(sql: "DROP TRIGGER IF EXISTS audit_log_append_only_delete")
        try db.execute(sql: sql)
      }
    }
  }

  private func draft(_ index: Int, actor: String = "dana", code: Int = 0) -> AuditDraft {
    AuditDraft(
      requestID: "r-\(index)", actor: actor, role: "dpo", method: "privacy.vault.v1.VaultService/RevealField",
      subjectID: "c-\(index % 3)", fieldsRevealed: index % 2 == 0 ? ["iban"] : [], reason: "refund \(index)", statusCode: code)
  }

  private func fill(_ fixture: Fixture, count: Int) async throws -> AuditLog {
    let log = try await fixture.open()
    for index in 1...count {
      _ = try await log.record(draft(index))
      fixture.clock.advance(by: 1)
    }
    return log
  }

  @Test("entries chain from the genesis hash, survive a restart and verify")
  func chain() async throws {
    let fixture = try Fixture()
    let log = try await fill(fixture, count: 5)
    let first = try #require(try await log.entries(AuditQuery(limit: 10)).last)
    #expect(first.sequence == 1 && first.previousHash == HashChain.genesis && first.hash == first.computedHash)
    #expect(first.draft == draft(1))
    let verification = try await log.verify()
    #expect(verification.valid && verification.entriesChecked == 5 && verification.headHash == log.head.hash)

    let reopened = try await fixture.open()
    let sixth = try await reopened.record(draft(6))
    #expect(sixth.sequence == 6 && sixth.previousHash == log.head.hash)
    #expect(try await reopened.verify().valid)
  }

  @Test("what a refused call sent is stored as hashed: control characters replaced, an id that is none left out")
  func hostileTexts() async throws {
    let fixture = try Fixture()
    let log = try await fixture.open()
    let sent = AuditDraft(
      requestID: "r-1", actor: "dana", role: "dpo", method: "privacy.consent.v1.ConsentService/EraseSubject",
      subjectID: "\u{0}", reason: "a\u{0}b\u{7}c\td", statusCode: 3, statusMessage: "reason must not \u{0}")
    let entry = try await log.record(sent)
    #expect(entry.draft.reason == "a\u{FFFD}b\u{FFFD}c\td" && entry.draft.subjectID.isEmpty)
    let mail = try await log.record(AuditDraft(requestID: "r-2", actor: "dana", role: "dpo", method: "m", subjectID: "ada@example.org", statusCode: 3))
    #expect(mail.draft.subjectID.isEmpty)
    let stored = try await fixture.open().entries(AuditQuery(limit: 10))
    #expect(stored.map(\.draft) == [mail.draft, entry.draft])
    #expect(try await log.verify().valid)
  }

  @Test("the database refuses updates and deletes of entries")
  func appendOnly() async throws {
    let fixture = try Fixture()
    _ = try await fill(fixture, count: 2)
    #expect(throws: DatabaseError.self) { try fixture.execute("UPDATE audit_log SET actor = 'mallory'") }
    #expect(throws: DatabaseError.self) { try fixture.execute("DELETE FROM audit_log WHERE sequence = 1") }
  }

  @Test("an edited entry in the file is named by VerifyAudit", arguments: [
    ("UPDATE audit_log SET actor = 'mallory' WHERE sequence = 3", UInt64(3), "content does not match"),
    ("UPDATE audit_log SET status_code = 7 WHERE sequence = 2", UInt64(2), "content does not match"),
    ("UPDATE audit_log SET fields_revealed = '' WHERE sequence = 4", UInt64(4), "content does not match"),
    ("UPDATE audit_log SET time = time + 1 WHERE sequence = 5", UInt64(5), "content does not match"),
    ("DELETE FROM audit_log WHERE sequence = 3", UInt64(3), "sequence gap"),
    ("UPDATE audit_log SET time = 'yesterday' WHERE sequence = 2", UInt64(2), "unreadable"),
    ("UPDATE audit_log SET prev_hash = hash WHERE sequence = 4", UInt64(4), "previous hash"),
  ])
  func tampered(_ sql: String, _ broken: UInt64, _ problem: String) async throws {
    let fixture = try Fixture()
    let log = try await fill(fixture, count: 6)
    #expect(try await log.verify().valid)
    try fixture.tamper(sql)
    let verification = try await log.verify()
    #expect(!verification.valid && verification.firstBrokenSequence == broken)
    #expect(verification.problem.contains(problem), "\(verification.problem)")
  }

  @Test("a truncated tail is caught against the head the gateway wrote; reordering breaks the chain")
  func truncatedAndReordered() async throws {
    let fixture = try Fixture()
    let log = try await fill(fixture, count: 6)
    try fixture.tamper("DELETE FROM audit_log WHERE sequence >= 5")
    let truncated = try await log.verify()
    #expect(!truncated.valid && truncated.firstBrokenSequence == 5 && truncated.problem.contains("missing"))

    let other = try Fixture()
    let log2 = try await fill(other, count: 4)
    try other.tamper("""
      UPDATE audit_log SET sequence = -1 WHERE sequence = 2;
      UPDATE audit_log SET sequence = 2 WHERE sequence = 3;
      UPDATE audit_log SET sequence = 3 WHERE sequence = -1;
      """)
    let reordered = try await log2.verify()
    #expect(!reordered.valid && reordered.firstBrokenSequence == 2)
  }

  @Test("when the entry cannot be written, record fails and the chain continues where it was")
  func failClosed() async throws {
    let fixture = try Fixture()
    let log = try await fill(fixture, count: 2)
    // The seam: the database refuses new rows, as a full disk or a broken file would.
    try fixture.execute("CREATE TRIGGER fail_audit BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    await #expect(throws: AuditUnavailable.self) { try await log.record(self.draft(3)) }
    await #expect(throws: AuditUnavailable.self) { try await log.record(self.draft(4)) }
    try fixture.execute("DROP TRIGGER fail_audit")
    let next = try await log.record(draft(5))
    #expect(next.sequence == 3)
    #expect(try await log.verify().valid)
  }

  @Test("concurrent calls share commits (group commit), each getting its own place in one valid chain")
  func groupCommit() async throws {
    let fixture = try Fixture()
    let log = try await fixture.open()
    let count = 400
    let entries = try await withThrowingTaskGroup(of: AuditEntry.self) { group in
      for index in 1...count { group.addTask { try await log.record(self.draft(index)) } }
      var entries: [AuditEntry] = []
      for try await entry in group { entries.append(entry) }
      return entries
    }
    #expect(Set(entries.map(\.sequence)) == Set(1...UInt64(count)))
    #expect(Set(entries.map(\.draft.requestID)).count == count)
    let statistics = log.commitStatistics
    #expect(statistics.entries == count)
    #expect(statistics.commits < count / 2, "\(statistics.commits) commits for \(count) entries")
    #expect(try await log.verify().entriesChecked == UInt64(count))
    #expect(try await log.verify().valid)
  }

  @Test("verifying while calls are being recorded finds a valid chain every time")
  func verifyDuringWrites() async throws {
    let fixture = try Fixture()
    let log = try await fill(fixture, count: 1000)
    let verifications = try await withThrowingTaskGroup(of: [ChainVerification].self) { group in
      group.addTask {
        for index in 1...1000 { _ = try await log.record(self.draft(1000 + index)) }
        return []
      }
      group.addTask {
        var results: [ChainVerification] = []
        for _ in 1...20 { results.append(try await log.verify()) }
        return results
      }
      return try await group.reduce(into: []) { $0 += $1 }
    }
    #expect(verifications.count == 20)
    for verification in verifications { #expect(verification.valid, "\(verification.problem)") }
  }

  @Test("entries are listed newest first and filtered by actor, method, subject, request id, time and outcome")
  func query() async throws {
    let fixture = try Fixture()
    let log = try await fixture.open()
    let start = fixture.clock.now()
    for index in 1...6 {
      _ = try await log.record(draft(index, actor: index <= 3 ? "dana" : "sam", code: index == 6 ? 7 : 0))
      fixture.clock.advance(by: 10)
    }
    _ = try await log.record(AuditDraft(requestID: "r-7", actor: "", role: "", method: "privacy.consent.v1.ConsentService/CheckConsent", statusCode: 16))
    #expect(try await log.entries(AuditQuery(limit: 50)).map(\.sequence) == [7, 6, 5, 4, 3, 2, 1])
    #expect(try await log.entries(AuditQuery(actor: "dana", limit: 50)).map(\.sequence) == [3, 2, 1])
    #expect(try await log.entries(AuditQuery(method: .service("privacy.consent.v1.ConsentService"), limit: 50)).map(\.sequence) == [7])
    #expect(try await log.entries(AuditQuery(method: MethodPattern("privacy.vault.v1.VaultService/RevealField"), limit: 50)).count == 6)
    #expect(try await log.entries(AuditQuery(subjectID: "c-1", limit: 50)).map(\.sequence) == [4, 1])
    #expect(try await log.entries(AuditQuery(requestID: "r-5", limit: 50)).map(\.sequence) == [5])
    #expect(try await log.entries(AuditQuery(start: start.addingTimeInterval(20), end: start.addingTimeInterval(40), limit: 50)).map(\.sequence) == [4, 3])
    #expect(try await log.entries(AuditQuery(statusCode: 7, limit: 50)).map(\.sequence) == [6])
    #expect(try await log.entries(AuditQuery(before: 3, limit: 50)).map(\.sequence) == [2, 1])
  }
}
