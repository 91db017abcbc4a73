import GRPCCore
import PrivacyConsent
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Testing

@Suite("A copy of the ledger built from the change feed")
struct LedgerMirrorTests {
  @Test("fed by WatchConsentEvents and the listings, it gives the service's answers to every check, batches included")
  func sameAnswers() async throws {
    try await withConsentService { client, _ async throws in
      try await client.upsert(purpose("newsletter"))
      try await client.upsert(purpose("offers"))
      try await client.upsert(purpose("analytics", basis: .legitimateInterests, category: .engagementTracking))
      _ = try await client.upsertMailingList(.with { $0.list = .with { $0.listID = "weekly"; $0.name = "Weekly"; $0.defaultSubscribed = true } })
      _ = try await client.upsertMailingList(.with { $0.list = .with { $0.listID = "deals"; $0.name = "Deals" } })
      // A history touching every rule: decisions changed, an objection to a legitimate interest,
      // opt-in statuses, subscriptions, a child (whose grant needs a guardian), a restriction,
      // an erasure.
      try await client.record("c1", "newsletter", .granted)
      try await client.record("c1", "offers", .granted)
      try await client.record("c1", "offers", .withdrawn)
      try await client.record("c2", "newsletter", .denied)
      try await client.record("c2", "analytics", .denied)
      try await client.record("c3", "newsletter", .granted)
      try await client.record("c4", "analytics", .granted, evidence: evidence(age: .child))
      _ = try await client.setOptIn("c1", .singleOptInUser, by: .user)
      _ = try await client.setOptIn("c2", .optOutUser, by: .user)
      _ = try await client.setOptIn("c3", .singleOptInWebform, by: .webform)
      _ = try await client.subscribe(.with { $0.subjectID = "c1"; $0.listID = "deals"; $0.evidence = evidence() })
      _ = try await client.unsubscribe(.with { $0.subjectID = "c3"; $0.listID = "weekly"; $0.evidence = evidence() })
      _ = try await client.setProcessingRestriction(.with { $0.subjectID = "c3"; $0.restricted = true; $0.reason = "accuracy contested" })
      _ = try await client.eraseSubject(.with { $0.subjectID = "c4"; $0.reason = "art 17 request" })

      let mirror = LedgerMirror()
      try await client.watchConsentEvents(.with { $0.heartbeatMilliseconds = 100 }) { response in
        for try await message in response.messages {
          if message.hasCaughtUp { break }
          mirror.apply(message.event)
        }
      }
      mirror.replaceCatalogue(purposes: try await client.listPurposes(.init()).purposes, lists: try await client.listMailingLists(.init()).lists)
      #expect(mirror.sequence == (try await client.allEvents().last?.sequence))
      #expect(mirror.subjectCount == 4)

      var compared = 0
      for subject in ["c1", "c2", "c3", "c4", "c-unknown"] {
        for purposeID in ["newsletter", "offers", "analytics"] {
          let question = Privacy_Consent_V1_CheckConsentRequest.with {
            $0.subjectID = subject
            $0.purposeID = purposeID
          }
          #expect(try mirror.checkConsent(question) == (try await client.checkConsent(question)), "\(subject) \(purposeID)")
          compared += 1
        }
        for kind: Privacy_Consent_V1_MessageKind in [.campaign, .autoresponder, .workflow, .adHoc, .reply] {
          for (listID, purposeID) in [("", ""), ("weekly", ""), ("deals", "newsletter"), ("", "offers")] {
            let question = Privacy_Consent_V1_CheckEmailEligibilityRequest.with {
              $0.subjectID = subject
              $0.messageKind = kind
              $0.policy = kind == .campaign ? .anyOptIn : .unspecified
              $0.listID = listID
              $0.purposeID = purposeID
            }
            #expect(try mirror.checkEmailEligibility(question) == (try await client.checkEmailEligibility(question)), "\(subject) \(kind)")
            compared += 1
          }
        }
      }
      #expect(compared == 5 * (3 + 5 * 4))
      let batch = Privacy_Consent_V1_CheckConsentBatchRequest.with { request in
        request.checks = ["c1", "c2", "c3", "c4", "c-unknown"].flatMap { subject in
          ["newsletter", "offers", "analytics"].map { purposeID in .with { $0.subjectID = subject; $0.purposeID = purposeID } }
        }
      }
      #expect(try mirror.checkConsentBatch(batch) == (try await client.checkConsentBatch(batch)))

      // What it does not know it leaves to the service; a malformed question gets the service's refusal.
      #expect(try mirror.checkConsent(.with { $0.subjectID = "c1"; $0.purposeID = "no-such-purpose" }) == nil)
      #expect(try mirror.checkEmailEligibility(.with { $0.subjectID = "c1"; $0.messageKind = .workflow; $0.listID = "no-such-list" }) == nil)
      #expect(try mirror.checkConsentBatch(.with { $0.checks = [.with { $0.subjectID = "c1"; $0.purposeID = "no-such-purpose" }] }) == nil)
      let malformed = Privacy_Consent_V1_CheckConsentRequest.with { $0.subjectID = "c1"; $0.purposeID = "Not A Slug" }
      let fromMirror = #expect(throws: InvalidArgument.self) { try mirror.checkConsent(malformed) }
      let fromService = await #expect(throws: RPCError.self) { try await client.checkConsent(malformed) }
      #expect(fromMirror?.message == fromService?.message)

      // An event replayed changes nothing.
      let events = try await client.allEvents()
      let before = try mirror.checkConsent(.with { $0.subjectID = "c1"; $0.purposeID = "offers" })
      mirror.apply(try #require(events.first { $0.subjectID == "c1" && $0.purposeID == "offers" }))
      #expect(try mirror.checkConsent(.with { $0.subjectID = "c1"; $0.purposeID = "offers" }) == before)
    }
  }
}
