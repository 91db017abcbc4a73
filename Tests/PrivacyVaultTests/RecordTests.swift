import Foundation
import GRPCCore
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Testing

@Suite("Records: writing and reading")
struct RecordTests {
  @Test("PutRecord creates, GetRecord shows PERSONAL clear and SENSITIVE masked")
  func putAndGet() async throws {
    try await withVaultService { client, fixture async throws in
      try await client.defineStandardFields()
      let created = try await client.put(
        "c1",
        ["email": "ada@example.com", "name": "Ada Lovelace", "iban": "DE89370400440532013000", "diagnosis": "asthma",
         "purchase_total": "129.90"],
        source: source(.webform, form: "checkout", ip: "203.0.113.9"))
      #expect(created.created && created.version == 1)
      #expect(created.changedFields == ["diagnosis", "email", "iban", "name", "purchase_total"])

      let record = try await client.get("c1")
      #expect(record.subjectID == "c1" && record.version == 1 && !record.restricted && !record.erased)
      #expect(record.fields.map(\.name) == ["diagnosis", "email", "iban", "name", "purchase_total"])
      #expect(record.value(of: "email") == "ada@example.com")
      #expect(record.value(of: "name") == "Ada Lovelace")
      #expect(record.value(of: "purchase_total") == "129.90")
      let iban = try #require(record.fields.first { $0.name == "iban" })
      #expect(iban.value == "****3000" && iban.masked && iban.mask == .last4 && iban.classification == .sensitive)
      #expect(iban.tags == ["billing"])
      let diagnosis = try #require(record.fields.first { $0.name == "diagnosis" })
      #expect(diagnosis.value == "********" && diagnosis.masked && diagnosis.specialCategory == .health)
      let email = try #require(record.fields.first { $0.name == "email" })
      #expect(!email.masked && email.mask == .email)
      #expect(email.source.channel == .webform && email.source.formName == "checkout" && email.source.ipAddress == "203.0.113.9")
      #expect(email.source.actor == "crm-sync" && email.source.requestID == "req-1" && email.source.actorKind == .subject)
      #expect(email.updatedAt == fixture.clock.now().protoTimestamp)
    }
  }

  @Test("masks give exactly the contract's forms")
  func masks() async throws {
    try await withVaultService { client, _ async throws in
      try await client.define(field("card", .sensitive, mask: .last4))
      try await client.define(field("mail", .sensitive, mask: .email))
      try await client.define(field("secret", .sensitive, mask: .full))
      let cases: [(String, String, String)] = [
        ("card", "4111111111111111", "****1111"), ("card", "1234", "********"), ("card", "12345", "****2345"),
        ("mail", "jane.doe@example.com", "j***@example.com"), ("mail", "no-at-sign", "********"),
        ("mail", "a@b@c", "********"), ("secret", "x", "********"), ("secret", String(repeating: "y", count: 40), "********"),
      ]
      for (index, (name, value, masked)) in cases.enumerated() {
        try await client.put("m\(index)", [name: value])
        #expect(try await client.get("m\(index)").value(of: name) == masked, "\(name)")
      }
    }
  }

  @Test("rectification replaces values, logs the change without the value, and bumps the version", sqliteOnly)
  func rectification() async throws {
    try await withVaultService { client, fixture async throws in
      try await client.defineStandardFields()
      try await client.put("c1", ["email": "old-address@example.com", "name": "Ada"])
      let same = try await client.put("c1", ["email": "old-address@example.com"])
      #expect(same.version == 1 && same.changedFields.isEmpty && !same.created)
      let changed = try await client.put("c1", ["email": "new-address@example.com", "name": ""], source: source(.manual, actorKind: .staff))
      #expect(changed.version == 2 && changed.changedFields == ["email", "name"])
      let record = try await client.get("c1")
      #expect(record.value(of: "email") == "new-address@example.com" && record.value(of: "name") == nil)
      #expect(record.fields.first { $0.name == "email" }?.source.channel == .manual)

      let log = try await client.accessLog { $0.subjectID = "c1" }
      #expect(log.map(\.kind) == [.write, .write, .rectification, .rectification])
      #expect(log.map(\.field) == ["email", "name", "email", "name"])
      #expect(log.allSatisfy { $0.actor == "crm-sync" && $0.role == "service" && $0.requestID == "req-1" })
      // The old value is nowhere: not in the file, not in the log.
      #expect(!filesContain(fixture.files, "old-address@example.com"))
      #expect(!log.contains { $0.detail.contains("example.com") || $0.reason.contains("example.com") })
    }
  }

  @Test("an empty map creates the record; unknown subjects are NOT_FOUND")
  func emptyAndUnknown() async throws {
    try await withVaultService { client, _ async throws in
      try await client.defineStandardFields()
      let missing = await capturedRPCError { try await client.get("c9") }
      #expect(missing?.code == .notFound)
      let created = try await client.put("c9", [:])
      #expect(created.created && created.version == 1 && created.changedFields.isEmpty)
      #expect(try await client.get("c9").fields.isEmpty)
      #expect(try await client.put("c9", [:]).version == 1)
    }
  }

  @Test("bad writes are INVALID_ARGUMENT, name the field, never quote the value, and change nothing")
  func badWrites() async throws {
    try await withVaultService { client, _ async throws in
      try await client.defineStandardFields()
      try await client.put("c1", ["email": "ada@example.com"])
      let unknown = await capturedRPCError { try await client.put("c1", ["email": "x@example.com", "shoe_size": "SecretShoe42"]) }
      #expect(unknown?.code == .invalidArgument && unknown?.message.contains("shoe_size") == true)
      #expect(unknown?.message.contains("SecretShoe42") == false)

      let cases: [(String, [String: String], Privacy_Vault_V1_ValueSource)] = [
        ("c1", ["shoe_size": "42"], source()),
        ("c1", ["Email": "x"], source()),
        ("c1", ["email": String(repeating: "x", count: 65_537)], source()),
        ("c1", ["email": "x@example.com"], source(.unspecified)),
        ("c1", ["email": "x@example.com"], source(ip: "not-an-ip")),
        ("c1", ["email": "x@example.com"], source(form: String(repeating: "f", count: 201))),
        ("", ["email": "x@example.com"], source()),
        ("ada@example.com", ["email": "x@example.com"], source()),
      ]
      for (subject, values, source) in cases {
        try await expectRejected(client, subject: "c1", .invalidArgument) { try await client.put(subject, values, source: source) }
      }
      try await expectRejected(client, subject: "c1", .invalidArgument) {
        try await client.putRecord(.with { $0.subjectID = "c1"; $0.values = ["email": "x@example.com"] })
      }
      var future = source()
      future.capturedAt = Date().addingTimeInterval(86_400 * 365 * 10).protoTimestamp
      try await expectRejected(client, subject: "c1", .invalidArgument) { try await client.put("c1", ["email": "x@example.com"], source: future) }
      // A value of exactly 65,536 bytes is accepted.
      try await client.put("c1", ["name": String(repeating: "n", count: 65_536)])
    }
  }

  @Test("everything survives a restart: schema, values, flags, log")
  func restart() async throws {
    let fixture = try VaultFixture()
    let before = try await fixture.run { client in
      try await client.defineStandardFields()
      try await client.put("c1", ["email": "ada@example.com", "iban": "DE89370400440532013000", "segment": "vip"], source: source(ip: "198.51.100.4"))
      _ = try await client.restrict("c1")
      _ = try await client.reveal("c1", "iban")
      return try await client.snapshot("c1")
    }
    try await fixture.run { client async throws in
      let after = try await client.snapshot("c1")
      #expect(after == before)
      #expect(try await client.reveal("c1", "iban").value == "DE89370400440532013000")
      #expect(try await client.verify().valid)
      #expect(try await client.verify().entriesChecked == UInt64(before.log.count + 1))
    }
  }
}
