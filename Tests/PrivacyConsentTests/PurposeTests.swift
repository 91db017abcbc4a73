import GRPCCore
import PrivacyProtocol
import PrivacyTesting
import Testing

@Suite("Purposes and notice versions")
struct PurposeTests {
  @Test("a purpose is stored with its basis, category, retention and notice, and listed")
  func createAndList() async throws {
    try await withConsentService { client, _ async throws in
      let created = try await client.upsert(purpose("newsletter"))
      #expect(created.created && created.noticeVersionAdded)
      #expect(created.purpose.legalBasis == .consent)
      #expect(created.purpose.category == .emailMarketing)
      #expect(created.purpose.retentionDays == 365)
      try await client.upsert(purpose("billing", basis: .contract, category: .dataStorage, vaultFields: ["iban", "address"]))

      let listed = try await client.listPurposes(.init())
      #expect(listed.purposes.map(\.purposeID) == ["billing", "newsletter"])
      #expect(listed.purposes[0].vaultFields == ["address", "iban"])
      #expect(listed.purposes[1].noticeText == "We send you our newsletter.")
    }
  }

  @Test("all six lawful bases are accepted")
  func sixBases() async throws {
    try await withConsentService { client, _ async throws in
      let bases: [Privacy_Consent_V1_LegalBasis] = [.consent, .contract, .legalObligation, .vitalInterests, .publicTask, .legitimateInterests]
      for (index, basis) in bases.enumerated() {
        let stored = try await client.upsert(purpose("p\(index)", basis: basis)).purpose
        #expect(stored.legalBasis == basis)
      }
    }
  }

  @Test("a new notice version keeps the old ones, and evidence may refer to an old version")
  func noticeHistory() async throws {
    try await withConsentService { client, _ async throws in
      try await client.upsert(purpose("newsletter", version: "v1", text: "first text"))
      let second = try await client.upsert(purpose("newsletter", version: "v2", text: "second text"))
      #expect(!second.created && second.noticeVersionAdded)
      #expect(second.purpose.noticeVersion == "v2")
      #expect(second.purpose.noticeHistory.map(\.version) == ["v1", "v2"])
      #expect(second.purpose.noticeHistory.map(\.text) == ["first text", "second text"])

      let old = try await client.record("s1", "newsletter", .granted, evidence: evidence(noticeVersion: "v1"))
      #expect(old.evidence.noticeVersion == "v1")
      let current = try await client.record("s2", "newsletter", .granted)
      #expect(current.evidence.noticeVersion == "v2")
    }
  }

  @Test("a published notice version cannot get another text")
  func noticeImmutable() async throws {
    try await withConsentService { client, _ async throws in
      try await client.upsert(purpose("newsletter", version: "v1", text: "first text"))
      let error = await capturedRPCError { try await client.upsert(purpose("newsletter", version: "v1", text: "edited text")) }
      #expect(error?.code == .failedPrecondition)
      #expect(error?.errorInfoReason == "NOTICE_VERSION_IMMUTABLE")
      let stored = try await client.listPurposes(.init()).purposes[0]
      #expect(stored.noticeText == "first text")
      #expect(stored.noticeHistory.count == 1)
    }
  }

  @Test("bad purposes are refused with INVALID_ARGUMENT and nothing is stored", arguments: [
    ("Bad Id", { @Sendable (p: inout Privacy_Consent_V1_Purpose) in p.purposeID = "Bad Id" }),
    ("missing id", { @Sendable (p: inout Privacy_Consent_V1_Purpose) in p.purposeID = "" }),
    ("missing title", { @Sendable (p: inout Privacy_Consent_V1_Purpose) in p.title = " " }),
    ("missing basis", { @Sendable (p: inout Privacy_Consent_V1_Purpose) in p.legalBasis = .unspecified }),
    ("missing category", { @Sendable (p: inout Privacy_Consent_V1_Purpose) in p.category = .unspecified }),
    ("missing notice version", { @Sendable (p: inout Privacy_Consent_V1_Purpose) in p.noticeVersion = "" }),
    ("missing notice text", { @Sendable (p: inout Privacy_Consent_V1_Purpose) in p.noticeText = "" }),
    ("vault fields on marketing", { @Sendable (p: inout Privacy_Consent_V1_Purpose) in p.vaultFields = ["email"] }),
    ("bad vault field", { @Sendable (p: inout Privacy_Consent_V1_Purpose) in p.category = .dataStorage; p.vaultFields = ["Email!"] }),
  ] as [(String, @Sendable (inout Privacy_Consent_V1_Purpose) -> Void)])
  func badPurposes(_ name: String, _ mutate: @Sendable (inout Privacy_Consent_V1_Purpose) -> Void) async throws {
    try await withConsentService { client, _ async throws in
      var bad = purpose("newsletter")
      mutate(&bad)
      let error = await capturedRPCError { try await client.upsert(bad) }
      #expect(error?.code == .invalidArgument, "\(name)")
      #expect(try await client.listPurposes(.init()).purposes.isEmpty)
    }
  }

  @Test("a purpose request without a purpose is refused")
  func missingPurpose() async throws {
    try await withConsentService { client, _ async throws in
      let error = await capturedRPCError { try await client.upsertPurpose(.init()) }
      #expect(error?.code == .invalidArgument)
    }
  }

  @Test("subject categories are kept for the records of processing; too many or empty ones are refused and store nothing")
  func subjectCategories() async throws {
    try await withConsentService { client, _ async throws in
      var stored = purpose("newsletter")
      stored.subjectCategories = ["customers", "newsletter readers"]
      try await client.upsert(stored)
      #expect(try await client.listPurposes(.init()).purposes.first?.subjectCategories == ["customers", "newsletter readers"])
      for categories in [[""], Array(repeating: "customers", count: 21), [String(repeating: "a", count: 201)]] {
        var bad = purpose("other")
        bad.subjectCategories = categories
        let error = await capturedRPCError { try await client.upsert(bad) }
        #expect(error?.code == .invalidArgument)
      }
      #expect(try await client.listPurposes(.init()).purposes.map(\.purposeID) == ["newsletter"])
    }
  }
}
