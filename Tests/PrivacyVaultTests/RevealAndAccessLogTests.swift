import Foundation
import GRDB
import GRPCCore
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Testing

@Suite("Reveal, export and the access log")
struct RevealAndAccessLogTests {
  private let dpo = CallerIdentity(actor: "dana@dpo", role: "dpo", requestID: "req-reveal-7")

  @Test("RevealField returns the clear value after logging who, role, field, subject, reason, time and request id")
  func reveal() async throws {
    try await withVaultService(identity: dpo) { client, fixture async throws in
      try await client.defineStandardFields()
      try await client.put("c1", ["iban": "DE89370400440532013000"])
      let revealed = try await client.reveal("c1", "iban", reason: "refund to the customer's account")
      #expect(revealed.value == "DE89370400440532013000")
      let entry = try #require(try await client.accessLog { $0.kinds = [.reveal] }.first)
      #expect(entry.sequence == revealed.accessLogSequence && entry.occurredAt == revealed.revealedAt)
      #expect(entry.subjectID == "c1" && entry.field == "iban" && entry.actor == "dana@dpo" && entry.role == "dpo")
      #expect(entry.reason == "refund to the customer's account" && entry.requestID == "req-reveal-7")
      #expect(entry.occurredAt == fixture.clock.now().protoTimestamp)
    }
  }

  @Test("a reveal needs a reason of 1-500 characters and a value; rejections log nothing")
  func revealRejections() async throws {
    try await withVaultService { client, _ async throws in
      try await client.defineStandardFields()
      try await client.put("c1", ["iban": "DE89370400440532013000"])
      for reason in ["", "   ", String(repeating: "r", count: 501)] {
        try await expectRejected(client, subject: "c1", .invalidArgument) { try await client.reveal("c1", "iban", reason: reason) }
      }
      try await expectRejected(client, subject: "c1", .invalidArgument) { try await client.reveal("c1", "IBAN") }
      try await expectRejected(client, subject: "c1", .invalidArgument) { try await client.reveal("", "iban") }
      try await expectRejected(client, subject: "c1", .notFound) { try await client.reveal("c2", "iban") }
      try await expectRejected(client, subject: "c1", .notFound) { try await client.reveal("c1", "shoe_size") }
      try await expectRejected(client, subject: "c1", .notFound) { try await client.reveal("c1", "email") }
      _ = try await client.reveal("c1", "iban", reason: String(repeating: "r", count: 500))
    }
  }

  @Test("when the access log cannot be written, RevealField fails and returns no value", sqliteOnly)
  func logWriteFails() async throws {
    try await withVaultService { client, fixture async throws in
      try await client.defineStandardFields()
      try await client.put("c1", ["iban": "DE89370400440532013000", "name": "Ada"])
      // The seam: the database itself refuses new access-log rows, as a full disk or a broken
      // file would.
      try fixture.execute(
        "CREATE TRIGGER fail_access_log BEFORE INSERT ON access_log BEGIN SELECT RAISE(ABORT, 'disk full'); END")
      let before = try await client.accessLog()
      let error = await capturedRPCError { try await client.reveal("c1", "iban") }
      #expect(error?.code == .internalError)
      #expect(error?.message.contains("DE89") == false)
      let export = await capturedRPCError { try await client.exportRecord(.with { $0.subjectID = "c1" }) }
      #expect(export?.code == .internalError)
      #expect(try await client.accessLog() == before)
      try fixture.execute("DROP TRIGGER fail_access_log")
      // The chain continues where it was: the failed attempts left no gap.
      let revealed = try await client.reveal("c1", "iban")
      #expect(revealed.accessLogSequence == UInt64(before.count + 1))
      #expect(try await client.verify().valid)
    }
  }

  @Test("ExportRecord returns everything in clear, logged per field before returning")
  func export() async throws {
    try await withVaultService(identity: dpo) { client, _ async throws in
      try await client.defineStandardFields()
      try await client.put("c1", ["iban": "DE89370400440532013000", "diagnosis": "asthma", "email": "ada@example.com"], source: source(ip: "203.0.113.5"))
      let exported = try await client.exportRecord(.with {
        $0.subjectID = "c1"
        $0.reason = "art 15 request r-42"
      })
      let record = exported.record
      #expect(record.value(of: "iban") == "DE89370400440532013000" && record.value(of: "diagnosis") == "asthma")
      #expect(record.fields.allSatisfy { !$0.masked })
      #expect(record.fields.first?.source.ipAddress == "203.0.113.5")
      let log = try await client.accessLog { $0.kinds = [.export] }
      #expect(log.map(\.field) == ["diagnosis", "email", "iban"])
      #expect(log.allSatisfy { $0.reason == "art 15 request r-42" && $0.role == "dpo" && $0.occurredAt == exported.exportedAt })

      try await expectRejected(client, subject: "c1", .invalidArgument) {
        try await client.exportRecord(.with { $0.subjectID = "c1"; $0.reason = String(repeating: "r", count: 501) })
      }
      try await expectRejected(client, subject: "c1", .notFound) { try await client.exportRecord(.with { $0.subjectID = "c2" }) }

      // An export of a record without values is still accounted for, with one record-level entry.
      try await client.put("c3", [:])
      let empty = try await client.exportRecord(.with { $0.subjectID = "c3" })
      #expect(empty.record.fields.isEmpty)
      #expect(try await client.accessLog { $0.subjectID = "c3" }.map(\.field) == [""])
    }
  }

  @Test("the access log filters by subject, actor, field, kind and time, in pages scoped to the filters", sqliteOnly)
  func listing() async throws {
    let fixture = try VaultFixture()
    try await fixture.run(identity: CallerIdentity(actor: "importer", role: "service", requestID: "r1")) { client async throws in
      try await client.defineStandardFields()
      try await client.put("c1", ["email": "a@example.com", "name": "A"])
      try await client.put("c2", ["email": "b@example.com"])
    }
    fixture.clock.advance(by: 3600)
    let later = fixture.clock.now()
    try await fixture.run(identity: CallerIdentity(actor: "dana", role: "dpo", requestID: "r2")) { client async throws in
      _ = try await client.reveal("c1", "email")
      _ = try await client.reveal("c2", "email")
      _ = try await client.restrict("c2")

      #expect(try await client.accessLog().count == 6)
      #expect(try await client.accessLog { $0.subjectID = "c1" }.map(\.kind) == [.write, .write, .reveal])
      #expect(try await client.accessLog { $0.actor = "dana" }.count == 3)
      #expect(try await client.accessLog { $0.field = "email" }.count == 4)
      #expect(try await client.accessLog { $0.kinds = [.reveal, .restrict] }.count == 3)
      #expect(try await client.accessLog { $0.subjectID = "c2"; $0.kinds = [.restrict] }.first?.field == "")
      #expect(try await client.accessLog { $0.startTime = later.protoTimestamp }.count == 3)
      #expect(try await client.accessLog { $0.endTime = later.protoTimestamp }.count == 3)
      #expect(try await client.accessLog { $0.startTime = later.protoTimestamp; $0.endTime = later.protoTimestamp }.isEmpty)
      try await pagingAndBadFilters(client, later: later)
    }
  }

  private func pagingAndBadFilters(_ client: VaultClient, later: Date) async throws {
    var sequences: [UInt64] = []
    var token = ""
    repeat {
      let page = try await client.listAccessLog(.with { $0.pageSize = 4; $0.pageToken = token })
      sequences += page.entries.map(\.sequence)
      token = page.nextPageToken
    } while !token.isEmpty
    #expect(sequences == [1, 2, 3, 4, 5, 6])

    let first = try await client.listAccessLog(.with { $0.pageSize = 2; $0.field = "email" })
    let nextToken = first.nextPageToken
    let rescoped = await capturedRPCError {
      try await client.listAccessLog(.with { $0.pageSize = 2; $0.field = "name"; $0.pageToken = nextToken })
    }
    #expect(rescoped?.code == .invalidArgument)
    let bad: [Privacy_Vault_V1_ListAccessLogRequest] = [
      .with { $0.pageSize = -1 },
      .with { $0.pageToken = "garbage" },
      .with { $0.subjectID = "not an id" },
      .with { $0.field = "Email" },
      .with { $0.kinds = [.unspecified] },
      .with { $0.startTime = later.protoTimestamp; $0.endTime = later.addingTimeInterval(-1).protoTimestamp },
      .with { $0.startTime = .init(seconds: 1, nanos: -5) },
    ]
    for request in bad {
      try await expectRejected(client, subject: "c1", .invalidArgument) { try await client.listAccessLog(request) }
    }
  }
}

@Suite("Access-log integrity")
struct AccessLogIntegrityTests {
  private func seed(_ client: VaultClient) async throws {
    try await client.defineStandardFields()
    try await client.put("c1", ["email": "a@example.com", "iban": "DE89370400440532013000"])
    _ = try await client.reveal("c1", "iban")
    _ = try await client.reveal("c1", "email")
    _ = try await client.restrict("c1")
  }

  /// Edits the file as an attacker would: the append-only triggers go first.
  private func tamper(_ fixture: VaultFixture, _ sql: String) throws {
    try fixture.database().write { db in
      try db.execute(sql: "DROP TRIGGER IF EXISTS access_log_append_only_update")
      try db.execute(sql: "DROP TRIGGER IF EXISTS access_log_append_only_delete")
      try db.execute(sql: sql)
    }
  }

  @Test("an untouched log verifies and reports its head")
  func intact() async throws {
    try await withVaultService { client, _ async throws in
      try await seed(client)
      let result = try await client.verify()
      #expect(result.valid && result.entriesChecked == 5 && result.firstBrokenSequence == 0)
      let log = try await client.accessLog()
      #expect(result.headHash == log.last?.hash)
      #expect(log.first?.previousHash == "" && log[1].previousHash == log[0].hash)
    }
  }

  @Test("the log refuses updates and deletes through SQL", sqliteOnly)
  func appendOnly() async throws {
    try await withVaultService { client, fixture async throws in
      try await seed(client)
      #expect(throws: DatabaseError.self) { try fixture.execute("UPDATE access_log SET reason = 'nothing to see'") }
      #expect(throws: DatabaseError.self) { try fixture.execute("DELETE FROM access_log WHERE sequence = 3") }
      #expect(try await client.verify().valid)
    }
  }

  @Test("edited, deleted, truncated, reordered and unreadable entries are named", sqliteOnly)
  func tampering() async throws {
    let cases: [(String, UInt64, String)] = [
      ("UPDATE access_log SET actor = 'someone-else' WHERE sequence = 3", 3, "hash"),
      ("DELETE FROM access_log WHERE sequence = 2", 2, "gap"),
      ("DELETE FROM access_log WHERE sequence >= 4", 4, "missing"),
      ("""
       UPDATE access_log SET sequence = -1 WHERE sequence = 2;
       UPDATE access_log SET sequence = 2 WHERE sequence = 3;
       UPDATE access_log SET sequence = 3 WHERE sequence = -1;
       """, 2, "previous hash"),
      ("UPDATE access_log SET kind = 'peek' WHERE sequence = 4", 4, "unreadable"),
    ]
    for (sql, broken, problem) in cases {
      try await withVaultService { client, fixture async throws in
        try await seed(client)
        try tamper(fixture, sql)
        let result = try await client.verify()
        #expect(!result.valid && result.firstBrokenSequence == broken, "\(sql)")
        #expect(result.problem.contains(problem), "\(result.problem)")
      }
    }
  }
}
