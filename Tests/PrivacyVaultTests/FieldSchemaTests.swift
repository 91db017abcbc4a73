import Foundation
import GRPCCore
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Testing

@Suite("Field schema")
struct FieldSchemaTests {
  @Test("a field is stored with its effective classification, mask and encryption")
  func effectiveDefinition() async throws {
    try await withVaultService { client, _ async throws in
      let created = try await client.upsertField(field("email", .personal, mask: .email, searchable: true, tags: ["email", "email", "billing"]))
      #expect(created.created)
      #expect(created.field.encrypted && created.field.classification == .personal && created.field.mask == .email)
      #expect(created.field.tags == ["billing", "email"])

      let none = try await client.define(field("purchase_total", .none))
      #expect(!none.encrypted && none.mask == .none)
      let optedIn = try await client.define(field("segment", .none, encrypted: true))
      #expect(optedIn.encrypted)

      let sensitive = try await client.define(field("iban", .sensitive))
      #expect(sensitive.mask == .full && sensitive.encrypted)
      let maskNone = try await client.define(field("tax_id", .sensitive, mask: .none))
      #expect(maskNone.mask == .full)
    }
  }

  @Test("special-category and criminal-offence fields are SENSITIVE whatever the request says")
  func forcedSensitive() async throws {
    try await withVaultService { client, _ async throws in
      let health = try await client.define(field("diagnosis", .none, special: .health))
      #expect(health.classification == .sensitive && health.encrypted && health.specialCategory == .health)
      let unspecified = try await client.define(field("religion", .unspecified, special: .religionOrBelief))
      #expect(unspecified.classification == .sensitive)
      let criminal = try await client.define(field("convictions", .personal, criminal: true))
      #expect(criminal.classification == .sensitive && criminal.criminalOffence)
    }
  }

  @Test("malformed definitions are INVALID_ARGUMENT and change nothing")
  func badInput() async throws {
    try await withVaultService { client, _ async throws in
      try await client.define(field("zip", .none, tags: ["quasi_identifier"], rule: keepPrefix(3)))
      let bad: [Privacy_Vault_V1_UpsertFieldRequest] = [
        field("Email", .personal),
        field("1email", .personal),
        field("", .personal),
        field(String(repeating: "a", count: 64), .personal),
        field("e-mail", .personal),
        field("email", .unspecified),
        field("email", .personal, tags: ["Billing"]),
        field("email", .personal, tags: (0..<33).map { "t\($0)" }),
        field("city", .none, rule: keepPrefix(2)),
        field("zip", .none, tags: ["quasi_identifier"], rule: keepPrefix(0)),
        field("age", .none, tags: ["quasi_identifier"], rule: bucket(0)),
        field("age", .none, tags: ["quasi_identifier"], rule: bucket(-5)),
        field("age", .none, tags: ["quasi_identifier"], rule: Privacy_Vault_V1_GeneralizationRule()),
        field("email", .personal, description: String(repeating: "x", count: 501)),
        field("email", .UNRECOGNIZED(9)),
        field("email", .personal, mask: .UNRECOGNIZED(9)),
      ]
      for request in bad {
        try await expectRejected(client, subject: "nobody", .invalidArgument) { try await client.upsertField(request) }
      }
      // Exactly 32 tags and a 63-character name are fine.
      try await client.define(field(String(repeating: "a", count: 63), .none, tags: (0..<32).map { "t\($0)" }))
    }
  }

  @Test("encryption cannot be turned off, on a PERSONAL field or once on")
  func encryptionIrreversible() async throws {
    try await withVaultService { client, _ async throws in
      try await expectRejected(client, subject: "nobody", .failedPrecondition, reason: "ENCRYPTION_IRREVERSIBLE") {
        try await client.upsertField(field("email", .personal, encrypted: false))
      }
      try await client.define(field("segment", .none, encrypted: true))
      try await expectRejected(client, subject: "nobody", .failedPrecondition, reason: "ENCRYPTION_IRREVERSIBLE") {
        try await client.upsertField(field("segment", .none, encrypted: false))
      }
      // Unset keeps it on; a downgrade of a field without values keeps it encrypted.
      #expect(try await client.define(field("segment", .none, searchable: true)).encrypted)
      try await client.define(field("name", .personal))
      #expect(try await client.define(field("name", .none)).encrypted)
    }
  }

  @Test("a classification cannot be lowered while values exist")
  func downgrade() async throws {
    try await withVaultService { client, _ async throws in
      try await client.define(field("iban", .sensitive))
      try await client.define(field("name", .personal))
      try await client.put("c1", ["iban": "DE89370400440532013000", "name": "Ada"])
      try await expectRejected(client, subject: "c1", .failedPrecondition, reason: "CLASSIFICATION_DOWNGRADE") {
        try await client.upsertField(field("iban", .personal))
      }
      try await expectRejected(client, subject: "c1", .failedPrecondition, reason: "CLASSIFICATION_DOWNGRADE") {
        try await client.upsertField(field("name", .none))
      }
      // Removing the art 9 category lowers it too.
      try await client.define(field("diagnosis", .unspecified, special: .health))
      try await client.put("c1", ["diagnosis": "asthma"])
      try await expectRejected(client, subject: "c1", .failedPrecondition, reason: "CLASSIFICATION_DOWNGRADE") {
        try await client.upsertField(field("diagnosis", .personal))
      }
      // Once the values are gone, it may be lowered.
      _ = try await client.eraseFields(.with {
        $0.subjectID = "c1"
        $0.fields = ["name"]
      })
      #expect(try await client.define(field("name", .none)).classification == .none)
    }
  }

  @Test("raising a classification encrypts the values already stored", sqliteOnly)
  func raiseEncrypts() async throws {
    try await withVaultService { client, fixture async throws in
      try await client.define(field("nickname", .none))
      try await client.put("c1", ["nickname": "ZebraNicknameQ7"])
      #expect(filesContain(fixture.files, "ZebraNicknameQ7"))
      let raised = try await client.define(field("nickname", .personal))
      #expect(raised.encrypted)
      #expect(try await client.get("c1").value(of: "nickname") == "ZebraNicknameQ7")
      #expect(!filesContain(fixture.files, "ZebraNicknameQ7"))
      try await client.define(field("nickname", .sensitive, mask: .last4))
      #expect(try await client.get("c1").value(of: "nickname") == "****meQ7")
    }
  }

  @Test("turning search on indexes the stored values; off drops them")
  func searchToggle() async throws {
    try await withVaultService { client, _ async throws in
      try await client.define(field("email", .personal))
      try await client.put("c1", ["email": "ada@example.com"])
      let refused = await capturedRPCError { try await client.findByField(.with { $0.field = "email"; $0.value = "ada@example.com" }) }
      #expect(refused?.code == .failedPrecondition && refused?.errorInfoReason == "FIELD_NOT_SEARCHABLE")
      try await client.define(field("email", .personal, searchable: true))
      let found = try await client.findByField(.with { $0.field = "email"; $0.value = "ADA@example.com " })
      #expect(found.records.map(\.subjectID) == ["c1"])
      try await client.define(field("email", .personal))
      try await client.define(field("email", .personal, searchable: true))
      #expect(try await client.findByField(.with { $0.field = "email"; $0.value = "ada@example.com" }).records.count == 1)
    }
  }

  @Test("an identical upsert changes nothing; a changed one keeps created_at")
  func idempotentUpsert() async throws {
    try await withVaultService { client, fixture async throws in
      let first = try await client.upsertField(field("name", .personal, description: "Full name"))
      fixture.clock.advance(by: 60)
      let same = try await client.upsertField(field("name", .personal, description: "Full name"))
      #expect(!same.created && same.field == first.field)
      let changed = try await client.upsertField(field("name", .personal, description: "Legal name"))
      #expect(changed.field.createdAt == first.field.createdAt && changed.field.updatedAt != first.field.updatedAt)
    }
  }

  @Test("fields are listed by name, filtered by tag, in pages")
  func listing() async throws {
    try await withVaultService { client, _ async throws in
      try await client.defineStandardFields()
      let all = try await client.allFields()
      #expect(all.map(\.name) == all.map(\.name).sorted() && all.count == 10)
      let quasi = try await client.listFields(.with { $0.tag = "quasi_identifier" })
      #expect(quasi.fields.map(\.name) == ["birth_date", "gender", "zip"])
      #expect(quasi.fields.first { $0.name == "zip" }?.generalization.keepPrefix == 3)

      var names: [String] = []
      var token = ""
      repeat {
        let page = try await client.listFields(.with { $0.pageSize = 3; $0.pageToken = token })
        #expect(page.fields.count <= 3)
        names += page.fields.map(\.name)
        token = page.nextPageToken
      } while !token.isEmpty
      #expect(names == all.map(\.name))

      let page = try await client.listFields(.with { $0.pageSize = 3 })
      let wrongScope = await capturedRPCError { try await client.listFields(.with { $0.tag = "email"; $0.pageToken = page.nextPageToken }) }
      #expect(wrongScope?.code == .invalidArgument)
      let negative = await capturedRPCError { try await client.listFields(.with { $0.pageSize = -1 }) }
      #expect(negative?.code == .invalidArgument)
      let badTag = await capturedRPCError { try await client.listFields(.with { $0.tag = "Bad Tag" }) }
      #expect(badTag?.code == .invalidArgument)
    }
  }
}
