import GRPCCore
import PrivacyProtocol
import PrivacyTesting
import Testing

@Suite("Bulk updates, subject lists and subscriptions")
struct BulkAndListTests {
  @Test("BulkUpdate by ids writes one event per subject with basis, source, date and reason")
  func byIDs() async throws {
    try await withConsentService { client, _ async throws in
      try await client.upsert(purpose("crm", basis: .consent, category: .custom))
      let response = try await client.bulkUpdate(.with {
        $0.subjectIds = .with { $0.subjectIds = ["b", "a", "c", "a"] }
        $0.purposeID = "crm"
        $0.decision = .granted
        $0.legalBasis = .legitimateInterests
        $0.evidence = evidence(channel: .import, actorKind: .staff)
        $0.reason = "import from old CRM"
      })
      #expect(response.updatedCount == 3 && response.firstSequence == 1 && response.lastSequence == 3)
      let events = try await client.allEvents()
      #expect(events.map(\.subjectID) == ["a", "b", "c"])
      #expect(events.allSatisfy { $0.reason == "import from old CRM" && $0.legalBasis == .legitimateInterests })
      #expect(events.allSatisfy { $0.evidence.channel == .import && $0.recordedByActor == "crm-sync" })
      #expect(try await client.check("b", "crm").legalBasis == .legitimateInterests)
    }
  }

  @Test("BulkUpdate by filter selects subjects by their state")
  func byFilter() async throws {
    try await withConsentService { client, _ async throws in
      try await client.upsert(purpose("newsletter"))
      try await client.upsert(purpose("offers"))
      try await client.record("a", "newsletter", .granted)
      try await client.record("b", "newsletter", .denied)
      try await client.record("c", "newsletter", .granted)
      let response = try await client.bulkUpdate(.with {
        $0.filter = .with { $0.purposeID = "newsletter"; $0.decisions = [.granted] }
        $0.purposeID = "offers"
        $0.decision = .granted
        $0.evidence = evidence(channel: .manual, actorKind: .staff)
        $0.reason = "newsletter readers get offers"
      })
      #expect(response.updatedCount == 2)
      let a = try await client.check("a", "offers")
      let b = try await client.check("b", "offers")
      #expect(a.allowed && !b.allowed)
    }
  }

  @Test("BulkUpdate is all or nothing and checks its input", arguments: [
    ("no selector", { @Sendable (r: inout Privacy_Consent_V1_BulkUpdateRequest) in r.selector = nil }, RPCError.Code.invalidArgument),
    ("too many ids", { @Sendable (r: inout Privacy_Consent_V1_BulkUpdateRequest) in r.subjectIds.subjectIds = (0...10_000).map { "s\($0)" } }, .invalidArgument),
    ("bad id", { @Sendable (r: inout Privacy_Consent_V1_BulkUpdateRequest) in r.subjectIds.subjectIds = ["ok", "not ok"] }, .invalidArgument),
    ("no reason", { @Sendable (r: inout Privacy_Consent_V1_BulkUpdateRequest) in r.reason = "" }, .invalidArgument),
    ("no decision", { @Sendable (r: inout Privacy_Consent_V1_BulkUpdateRequest) in r.decision = .unspecified }, .invalidArgument),
    ("unknown purpose", { @Sendable (r: inout Privacy_Consent_V1_BulkUpdateRequest) in r.purposeID = "ghost" }, .notFound),
    ("a child among them", { @Sendable (r: inout Privacy_Consent_V1_BulkUpdateRequest) in r.subjectIds.subjectIds = ["a", "kid", "z"] }, .failedPrecondition),
  ] as [(String, @Sendable (inout Privacy_Consent_V1_BulkUpdateRequest) -> Void, RPCError.Code)])
  func refused(_ name: String, _ mutate: @Sendable (inout Privacy_Consent_V1_BulkUpdateRequest) -> Void, _ code: RPCError.Code) async throws {
    try await withConsentService { client, _ async throws in
      try await client.upsert(purpose("newsletter"))
      try await client.record("kid", "newsletter", .denied, evidence: evidence(age: .child))
      let before = try await client.allEvents()
      var request = Privacy_Consent_V1_BulkUpdateRequest.with {
        $0.subjectIds = .with { $0.subjectIds = ["a", "b"] }
        $0.purposeID = "newsletter"
        $0.decision = .granted
        $0.evidence = evidence(channel: .import, actorKind: .staff)
        $0.reason = "import"
      }
      mutate(&request)
      let error = await capturedRPCError { try await client.bulkUpdate(request) }
      #expect(error?.code == code, "\(name)")
      #expect(try await client.allEvents() == before)
    }
  }

  @Test("ListSubjects filters on decision, opt-in status and restriction, and pages")
  func listSubjects() async throws {
    try await withConsentService { client, _ async throws in
      try await client.upsert(purpose("newsletter"))
      for index in 0..<7 { try await client.record("s\(index)", "newsletter", index.isMultiple(of: 2) ? .granted : .denied) }
      _ = try await client.setOptIn("s0", .optOutUser, by: .user)
      _ = try await client.setOptIn("s2", .singleOptInUser, by: .user)

      var seen: [String] = []
      var token = ""
      repeat {
        let page = try await client.listSubjects(.with {
          $0.filter = .with { $0.purposeID = "newsletter"; $0.decisions = [.granted] }
          $0.pageSize = 2
          $0.pageToken = token
        })
        #expect(page.subjects.allSatisfy { $0.decision == .granted })
        seen += page.subjects.map(\.subjectID)
        token = page.nextPageToken
      } while !token.isEmpty
      #expect(seen == ["s0", "s2", "s4", "s6"])

      let optedIn = try await client.listSubjects(.with { $0.filter = .with { $0.optInStatuses = [.singleOptInUser, .optOutUser] } })
      #expect(optedIn.subjects.map(\.subjectID) == ["s0", "s2"])
      let undecided = try await client.listSubjects(.with {
        $0.filter = .with { $0.purposeID = "newsletter"; $0.decisions = [.unspecified] }
      })
      #expect(undecided.subjects.isEmpty)
      let error = await capturedRPCError { try await client.listSubjects(.with { $0.filter = .with { $0.purposeID = "ghost"; $0.decisions = [.granted] } }) }
      #expect(error?.code == .notFound)
    }
  }

  @Test("mailing lists have a default; subscriptions are ledger events")
  func subscriptions() async throws {
    try await withConsentService { client, _ async throws in
      _ = try await client.upsertMailingList(.with { $0.list = .with { $0.listID = "news"; $0.name = "News"; $0.defaultSubscribed = true } })
      _ = try await client.upsertMailingList(.with { $0.list = .with { $0.listID = "offers"; $0.name = "Offers" } })
      var list = try await client.listSubscriptions(.with { $0.subjectID = "c1" }).subscriptions
      #expect(list.map(\.listID) == ["news", "offers"] && list.map(\.subscribed) == [true, false] && list.allSatisfy { !$0.explicit })

      let subscribed = try await client.subscribe(.with { $0.subjectID = "c1"; $0.listID = "offers"; $0.evidence = evidence() })
      #expect(subscribed.event.kind == .subscribed && subscribed.event.listID == "offers")
      let again = try await client.subscribe(.with { $0.subjectID = "c1"; $0.listID = "offers"; $0.evidence = evidence() })
      #expect(!again.hasEvent)
      _ = try await client.unsubscribe(.with { $0.subjectID = "c1"; $0.listID = "news"; $0.evidence = evidence() })
      list = try await client.listSubscriptions(.with { $0.subjectID = "c1" }).subscriptions
      #expect(list.map(\.subscribed) == [false, true] && list.allSatisfy(\.explicit))

      let unknown = await capturedRPCError { try await client.subscribe(.with { $0.subjectID = "c1"; $0.listID = "ghost"; $0.evidence = evidence() }) }
      #expect(unknown?.code == .notFound)
      let noEvidence = await capturedRPCError { try await client.subscribe(.with { $0.subjectID = "c1"; $0.listID = "news" }) }
      #expect(noEvidence?.code == .invalidArgument)
      #expect(try await client.allEvents().count == 2)
    }
  }
}
