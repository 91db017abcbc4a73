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

    static let key = try! AuditKey(secret: Data(repeating: 3, count: 32))

    func open(key: AuditKey = Fixture.key, checkpointEvery: UInt64 = AuditLog.defaultCheckpointEvery) async throws -> AuditLog {
      let clock = self.clock
      return try await AuditLog.open(
        store: try SQLiteAuditStore(path: path), key: key, checkpointEvery: checkpointEvery, now: { clock.now() }, logger: silentLogger)
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
    #expect(first.sequence == 1 && first.previousHash == HashChain.genesis && first.hash == first.computedHash(key: Fixture.key))
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

  @Test("the chain is keyed: under another key every entry fails, and an edit rehashed with plain SHA-256 is caught")
  func keyed() async throws {
    let fixture = try Fixture()
    _ = try await fill(fixture, count: 3)
    let otherKey = try await fixture.open(key: try AuditKey(secret: Data(repeating: 4, count: 32))).verify()
    #expect(!otherKey.valid && otherKey.firstBrokenSequence == 1 && otherKey.problem.contains("content does not match"))
    // Someone with the file but not the key edits entry 3 and recomputes its hash the unkeyed way.
    let log = try await fixture.open()
    let third = try #require(try await log.entries(AuditQuery(limit: 10)).first { $0.sequence == 3 })
    var edited = third
    edited.draft.actor = "mallory"
    var encoder = CanonicalEncoder()
    encoder.append(edited.sequence)
    encoder.append(edited.draft.actor)
    try fixture.tamper("UPDATE audit_log SET actor = 'mallory', hash = '\(HashChain.link(previous: third.previousHash, content: encoder))' WHERE sequence = 3")
    let verification = try await log.verify()
    #expect(!verification.valid && verification.firstBrokenSequence == 3)
    #expect(throws: ConfigurationError.self) { try AuditKey(secret: Data(repeating: 1, count: 31)) }
  }

  @Test("signed checkpoints every N entries; exported, they catch a truncated log and a chain rebuilt with the key")
  func checkpoints() async throws {
    let fixture = try Fixture()
    let log = try await fixture.open(checkpointEvery: 3)
    for index in 1...7 { _ = try await log.record(draft(index)) }
    await log.checkpoint()  // what the gateway does at shutdown
    let exported = try await log.checkpoints(after: 0, limit: 100)
    #expect(exported.map(\.sequence) == [3, 6, 7])
    #expect(exported.allSatisfy { $0.publicKey == Fixture.key.publicKey && $0.signature.count == 64 })
    #expect(try await log.verify(checkpoints: exported).valid)

    // A signature that does not verify, or made by another key, is refused as input.
    var forged = exported[1]
    forged.hash = String(repeating: "a", count: 64)
    await #expect(throws: InvalidArgument.self) { try await log.verify(checkpoints: [forged]) }

    // Rebuilt: entry 2 edited and every hash recomputed with the key. The chain alone verifies;
    // the checkpoints do not.
    let entries = try await log.entries(AuditQuery(limit: 100)).reversed()
    var head = ChainHead.empty
    var updates = ""
    for var entry in entries {
      if entry.sequence == 2 { entry.draft.reason = "nothing to see" }
      let sealed = AuditEntry(draft: entry.draft, after: head, at: entry.time, key: Fixture.key)
      updates += "UPDATE audit_log SET reason = '\(sealed.draft.reason)', prev_hash = '\(sealed.previousHash)', hash = '\(sealed.hash)' WHERE sequence = \(sealed.sequence);\n"
      head = ChainHead(sequence: sealed.sequence, hash: sealed.hash)
    }
    try fixture.tamper(updates)
    let reopened = try await fixture.open()
    #expect(try await reopened.verify().valid)
    let rebuilt = try await reopened.verify(checkpoints: exported)
    #expect(!rebuilt.valid && rebuilt.firstBrokenSequence == 3 && rebuilt.problem.contains("rebuilt"), "\(rebuilt.problem)")

    // Truncated: the last entries deleted. A restarted gateway takes the shorter log as whole;
    // the checkpoints do not.
    try fixture.tamper("DELETE FROM audit_log WHERE sequence >= 5")
    let restarted = try await fixture.open()
    #expect(try await restarted.verify().valid)
    let truncated = try await restarted.verify(checkpoints: exported)
    #expect(!truncated.valid && truncated.firstBrokenSequence == 5 && truncated.problem.contains("missing"), "\(truncated.problem)")
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
}
