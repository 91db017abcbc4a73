import Foundation
import GRPCCore
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Testing

@Suite("Erasing fields, locks, restriction and human review")
struct FieldErasureTests {
  private func eraseFields(_ client: VaultClient, _ subject: String, _ fields: [String], lock: Bool = false, reason: String = "consent withdrawn") async throws -> Privacy_Vault_V1_EraseFieldsResponse {
    try await client.eraseFields(.with {
      $0.subjectID = subject
      $0.fields = fields
      $0.lock = lock
      $0.reason = reason
    })
  }

  private func unlock(_ client: VaultClient, _ subject: String, _ fields: [String]) async throws -> Privacy_Vault_V1_UnlockFieldsResponse {
    try await client.unlockFields(.with {
      $0.subjectID = subject
      $0.fields = fields
      $0.reason = "consent granted again"
    })
  }

  @Test("EraseFields erases values; with lock later writes fail with FIELD_LOCKED until UnlockFields", sqliteOnly)
  func eraseAndLock() async throws {
    try await withVaultService { client, fixture async throws in
      try await client.defineStandardFields()
      try await client.put("c1", ["email": "ada@example.com", "segment": "PlainSegmentValue9", "name": "Ada"])
      let erased = try await eraseFields(client, "c1", ["email", "segment", "phone"], lock: true)
      #expect(erased.erasedFields == ["email", "segment"] && erased.lockedFields == ["email", "phone", "segment"])
      #expect(erased.version == 2)
      let record = try await client.get("c1")
      #expect(record.fields.map(\.name) == ["email", "name", "phone", "segment"])
      let email = try #require(record.fields.first { $0.name == "email" })
      #expect(email.locked && email.value.isEmpty && !email.hasSource)
      #expect(!filesContain(fixture.files, "PlainSegmentValue9"))

      try await expectRejected(client, subject: "c1", .failedPrecondition, reason: "FIELD_LOCKED") {
        try await client.put("c1", ["name": "Ada L.", "phone": "+1 555 0100"])
      }
      let locked = await capturedRPCError { try await client.put("c1", ["phone": "+1 555 0100", "segment": "x"]) }
      #expect((try? locked?.unpackGoogleRPCStatus())?.details.compactMap(\.errorInfo).first?.metadata["field"] == "phone")

      // Already locked: a second lock is a no-op that still reports the field locked.
      let again = try await eraseFields(client, "c1", ["phone"], lock: true)
      #expect(again.version == 2 && again.erasedFields.isEmpty && again.lockedFields == ["phone"])

      let unlocked = try await unlock(client, "c1", ["phone", "email", "name"])
      #expect(unlocked.unlockedFields == ["email", "phone"] && unlocked.version == 3)
      try await client.put("c1", ["phone": "+1 555 0100"])
      #expect(try await client.get("c1").fields.map(\.name) == ["name", "phone", "segment"])

      let kinds = try await client.accessLog { $0.kinds = [.erasure, .lock, .unlock] }
      #expect(kinds.map(\.kind) == [.erasure, .lock, .lock, .erasure, .lock, .unlock, .unlock])
      #expect(kinds.allSatisfy { !$0.reason.isEmpty })
    }
  }

  @Test("bad EraseFields and UnlockFields calls change nothing")
  func badEraseCalls() async throws {
    try await withVaultService { client, _ async throws in
      try await client.defineStandardFields()
      try await client.put("c1", ["email": "ada@example.com"])
      try await expectRejected(client, subject: "c1", .invalidArgument) { try await eraseFields(client, "c1", []) }
      let unknown = await capturedRPCError { try await eraseFields(client, "c1", ["email", "shoe_size"]) }
      #expect(unknown?.code == .invalidArgument && unknown?.message.contains("shoe_size") == true)
      #expect(try await client.get("c1").value(of: "email") == "ada@example.com")
      try await expectRejected(client, subject: "c1", .invalidArgument) {
        try await eraseFields(client, "c1", ["email"], reason: String(repeating: "r", count: 501))
      }
      try await expectRejected(client, subject: "c1", .notFound) { try await eraseFields(client, "c2", ["email"]) }
      try await expectRejected(client, subject: "c1", .invalidArgument) { try await unlock(client, "c1", []) }
      try await expectRejected(client, subject: "c1", .invalidArgument) { try await unlock(client, "c1", ["shoe_size"]) }
      try await expectRejected(client, subject: "c1", .notFound) { try await unlock(client, "c2", ["email"]) }
    }
  }

  @Test("a restricted record refuses every write with RECORD_RESTRICTED, still reads, until lifted")
  func restriction() async throws {
    try await withVaultService { client, fixture async throws in
      try await client.defineStandardFields()
      try await client.put("c1", ["email": "ada@example.com", "iban": "DE89370400440532013000"])
      let set = try await client.restrict("c1", reason: "accuracy contested")
      #expect(set.restricted && set.changed && set.version == 2 && set.restrictedSince == fixture.clock.now().protoTimestamp)
      fixture.clock.advance(by: 60)
      let again = try await client.restrict("c1", reason: "again")
      #expect(!again.changed && again.restrictedSince == set.restrictedSince && again.version == 2)

      let record = try await client.get("c1")
      #expect(record.restricted && record.restrictionReason == "accuracy contested")
      #expect(try await client.reveal("c1", "iban").value == "DE89370400440532013000")

      let writes: [() async throws -> Void] = [
        { _ = try await client.put("c1", ["name": "Ada"]) },
        { _ = try await eraseFields(client, "c1", ["email"]) },
        { _ = try await unlock(client, "c1", ["email"]) },
        { _ = try await client.erase("c1") },
      ]
      for write in writes {
        try await expectRejected(client, subject: "c1", .failedPrecondition, reason: "RECORD_RESTRICTED") { try await write() }
      }
      let lifted = try await client.restrict("c1", false, reason: "accuracy confirmed")
      #expect(!lifted.restricted && lifted.changed && !lifted.hasRestrictedSince)
      try await client.put("c1", ["name": "Ada"])
      #expect(try await client.accessLog { $0.kinds = [.restrict, .unrestrict] }.map(\.reason) == ["accuracy contested", "accuracy confirmed"])

      try await expectRejected(client, subject: "c1", .invalidArgument) { try await client.restrict("c1", reason: "") }
      try await expectRejected(client, subject: "c1", .notFound) { try await client.restrict("c2") }
    }
  }

  @Test("the human-review flag is set and cleared, also on restricted and erased records")
  func humanReview() async throws {
    try await withVaultService { client, _ async throws in
      try await client.defineStandardFields()
      try await client.put("c1", ["email": "ada@example.com"])
      _ = try await client.restrict("c1")
      let set = try await client.setHumanReview(.with { $0.subjectID = "c1"; $0.humanReview = true; $0.reason = "art 22 request r-7" })
      #expect(set.humanReview && set.changed && set.hasHumanReviewSince)
      let same = try await client.setHumanReview(.with { $0.subjectID = "c1"; $0.humanReview = true; $0.reason = "again" })
      #expect(!same.changed && same.version == set.version)
      let record = try await client.get("c1")
      #expect(record.humanReview && record.humanReviewReason == "art 22 request r-7")
      _ = try await client.restrict("c1", false)
      _ = try await client.erase("c1")
      let cleared = try await client.setHumanReview(.with { $0.subjectID = "c1"; $0.humanReview = false; $0.reason = "decision reviewed" })
      #expect(!cleared.humanReview && cleared.changed)
      #expect(try await client.accessLog { $0.kinds = [.humanReviewSet, .humanReviewCleared] }.count == 2)
      try await expectRejected(client, subject: "c1", .invalidArgument) {
        try await client.setHumanReview(.with { $0.subjectID = "c1"; $0.humanReview = true })
      }
      try await expectRejected(client, subject: "c1", .notFound) {
        try await client.setHumanReview(.with { $0.subjectID = "c2"; $0.humanReview = true; $0.reason = "r" })
      }
    }
  }
}

@Suite("ErasePersonalData and k-anonymity")
struct PersonalDataErasureTests {
  @Test("erases PERSONAL and SENSITIVE values, keeps NONE values, destroys the key, and is idempotent", sqliteOnly)
  func erasure() async throws {
    try await withVaultService { client, fixture async throws in
      try await client.defineStandardFields()
      try await client.define(field("loyalty_tier", .none, encrypted: true))
      try await client.put(
        "c1",
        ["email": "ada@example.com", "iban": "DE89370400440532013000", "diagnosis": "asthma", "purchase_total": "129.90",
         "segment": "PlainSegmentKept", "loyalty_tier": "gold"],
        source: source(ip: "198.51.100.23"))
      let outcome = try await client.erase("c1", reason: "art 17 request r-42")
      #expect(!outcome.alreadyErased && outcome.keyDestroyed)
      #expect(outcome.erasedFields == ["diagnosis", "email", "iban"])
      #expect(outcome.retainedFields == ["loyalty_tier", "purchase_total", "segment"])
      #expect(outcome.kAnonymity.outcome == .noQuasiIdentifiers && outcome.kAnonymity.k == 0 && outcome.kAnonymity.threshold == 5)
      #expect(outcome.erasedAt == fixture.clock.now().protoTimestamp)

      let record = try await client.get("c1")
      #expect(record.erased && record.erasureReason == "art 17 request r-42" && record.version == outcome.version)
      #expect(record.fields.map(\.name) == ["loyalty_tier", "purchase_total", "segment"])
      #expect(record.value(of: "loyalty_tier") == "gold")  // an encrypted NONE value is resealed under a new key
      #expect(record.fields.allSatisfy { $0.source.ipAddress.isEmpty })
      #expect(!filesContain(fixture.files, "198.51.100.23"))

      try await expectRejected(client, subject: "c1", .failedPrecondition, reason: "RECORD_ERASED") {
        try await client.put("c1", ["purchase_total": "1.00"])
      }
      try await expectRejected(client, subject: "c1", .notFound) { try await client.reveal("c1", "email") }
      #expect(try await client.reveal("c1", "purchase_total").value == "129.90")

      fixture.clock.advance(by: 3600)
      let before = try await client.snapshot("c1")
      let again = try await client.erase("c1", reason: "repeated")
      #expect(again.alreadyErased && again.erasedAt == outcome.erasedAt && again.erasedFields == outcome.erasedFields)
      #expect(again.keyDestroyed && again.version == outcome.version)
      #expect(try await client.snapshot("c1") == before)

      let log = try await client.accessLog { $0.kinds = [.erasure] }
      #expect(log.count == 1 && log[0].field == "" && log[0].reason == "art 17 request r-42")
      #expect(try await client.verify().valid)
    }
  }

  @Test("crypto-shredding: the wrapped data key and every sealed byte of the subject leave the files", sqliteOnly)
  func shredded() async throws {
    try await withVaultService { client, fixture async throws in
      try await client.defineStandardFields()
      try await client.put("c1", ["email": "ada@example.com", "iban": "DE89370400440532013000", "segment": "KeptSegment"], source: source(ip: "203.0.113.8"))
      try await client.put("c2", ["email": "bob@example.com"])
      let secrets: [Data] = try await fixture.database().read { db in
        try Data.fetchAll(db, sql: "SELECT wrapped FROM data_keys WHERE subject_id = 'c1'")
          + Data.fetchAll(db, sql: "SELECT value_sealed FROM record_values WHERE subject_id = 'c1' AND value_sealed IS NOT NULL")
          + Data.fetchAll(db, sql: "SELECT source_ip_sealed FROM record_values WHERE subject_id = 'c1' AND source_ip_sealed IS NOT NULL")
          + Data.fetchAll(db, sql: "SELECT blind_index FROM record_values WHERE subject_id = 'c1' AND field = 'email'")
      }
      #expect(secrets.count == 7)  // key, 2 values, 3 source IPs, 1 digest
      #expect(secrets.allSatisfy { filesContain(fixture.files, bytes: $0) })
      _ = try await client.erase("c1")
      for secret in secrets { #expect(!filesContain(fixture.files, bytes: secret)) }
      #expect(try await client.get("c1").value(of: "segment") == "KeptSegment")
      #expect(try await client.get("c2").value(of: "email") == "bob@example.com")
    }
  }

  @Test("a subject that never had a data key reports none destroyed; bad calls change nothing")
  func noKeyAndBadCalls() async throws {
    try await withVaultService { client, _ async throws in
      try await client.defineStandardFields()
      try await client.put("c1", ["purchase_total": "5"])
      try await expectRejected(client, subject: "c1", .invalidArgument) { try await client.erase("c1", reason: "") }
      try await expectRejected(client, subject: "c1", .invalidArgument) { try await client.erase("c1", reason: String(repeating: "r", count: 501)) }
      try await expectRejected(client, subject: "c1", .invalidArgument) { try await client.erase("bad id") }
      try await expectRejected(client, subject: "c1", .notFound) { try await client.erase("c2") }
      let outcome = try await client.erase("c1")
      #expect(!outcome.keyDestroyed && outcome.erasedFields.isEmpty && outcome.retainedFields == ["purchase_total"])
    }
  }

  /// A population where `target` shares (zip, birth date, gender) with `others` other records.
  private func population(_ client: VaultClient, others: Int) async throws {
    try await client.defineStandardFields()
    try await client.put("target", ["email": "target@example.com", "zip": "10115", "birth_date": "1990-04-17", "gender": "f", "purchase_total": "42"])
    for index in 0..<others {
      try await client.put("twin\(index)", ["zip": "10115", "birth_date": "1990-04-17", "gender": "f"])
    }
    // Records that differ on one quasi-identifier do not count.
    try await client.put("near1", ["zip": "10115", "birth_date": "1990-04-17", "gender": "m"])
    try await client.put("near2", ["zip": "10117", "birth_date": "1990-04-17", "gender": "f"])
  }

  @Test("an erased record unique on its quasi-identifiers has them generalized (or erased without a rule)")
  func generalized() async throws {
    try await withVaultService { client, _ async throws in
      try await population(client, others: 2)
      let outcome = try await client.erase("target")
      let check = outcome.kAnonymity
      #expect(check.outcome == .generalized && check.k == 3 && check.threshold == 5)
      #expect(check.fields.map(\.field) == ["birth_date", "gender", "zip"])
      #expect(check.fields.map(\.action) == [.generalized, .erased, .generalized])
      #expect(check.fields[2].rule.keepPrefix == 3 && !check.fields[1].hasRule)
      let record = try await client.get("target")
      #expect(record.value(of: "zip") == "101**" && record.value(of: "birth_date") == "1990" && record.value(of: "gender") == nil)
      #expect(record.fields.first { $0.name == "zip" }?.generalized == true)
      #expect(record.value(of: "purchase_total") == "42")
      let log = try await client.accessLog { $0.kinds = [.generalization] }
      #expect(log.map(\.field) == ["birth_date", "gender", "zip"])
      #expect(log.map(\.detail) == ["year_only", "erased: no rule", "keep_prefix=3"])
      // The others are untouched.
      #expect(try await client.get("twin0").value(of: "zip") == "10115")
    }
  }

  @Test("an erased record that is not unique keeps its quasi-identifiers")
  func satisfied() async throws {
    try await withVaultService { client, _ async throws in
      try await population(client, others: 4)
      let outcome = try await client.erase("target")
      #expect(outcome.kAnonymity.outcome == .satisfied && outcome.kAnonymity.k == 5)
      #expect(outcome.kAnonymity.fields.allSatisfy { $0.action == .untouched })
      let record = try await client.get("target")
      #expect(record.value(of: "zip") == "10115" && record.value(of: "birth_date") == "1990-04-17" && record.value(of: "gender") == "f")
      #expect(try await client.accessLog { $0.kinds = [.generalization] }.isEmpty)
    }
  }

  @Test("the threshold comes from VAULT_K_ANONYMITY; unparseable values are erased")
  func thresholdAndUnparseable() async throws {
    try await withVaultService(environment: ["VAULT_K_ANONYMITY": "2"]) { client, _ async throws in
      try await client.defineStandardFields()
      try await client.define(field("age", .none, tags: ["quasi_identifier"], rule: bucket(10)))
      try await client.put("a", ["birth_date": "sometime in spring", "age": "34"])
      try await client.put("b", ["birth_date": "1985-01-01", "age": "34"])
      let outcome = try await client.erase("a")
      #expect(outcome.kAnonymity.threshold == 2 && outcome.kAnonymity.k == 1)
      let record = try await client.get("a")
      #expect(record.value(of: "age") == "[30,40)" && record.value(of: "birth_date") == nil)
      #expect(outcome.kAnonymity.fields.map(\.action) == [.generalized, .erased])
    }
  }
}
