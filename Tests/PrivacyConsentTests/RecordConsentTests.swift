import GRPCCore
import PrivacyProtocol
import PrivacyTesting
import Testing

@Suite("Recording decisions and checking consent")
struct RecordConsentTests {
  @Test("a decision is one ledger event with its full evidence, sequence and hash")
  func recordsEvidence() async throws {
    try await withConsentService { client, _ async throws in
      try await client.upsert(purpose("newsletter"))
      let event = try await client.record("contact-1", "newsletter", .granted)
      #expect(event.sequence == 1)
      #expect(event.hash.count == 64)
      #expect(event.prevHash == String(repeating: "0", count: 64))
      #expect(event.kind == .consentDecision)
      #expect(event.evidence.channel == .webform)
      #expect(event.evidence.formName == "signup")
      #expect(event.evidence.ipAddress == "203.0.113.7")
      #expect(event.evidence.userAgent == "Mozilla/5.0 test")
      #expect(event.evidence.actor == "web visitor")
      #expect(event.evidence.actorKind == .subject)
      #expect(event.evidence.noticeVersion == "v1")
      #expect(event.evidence.hasCapturedAt)
      #expect(event.recordedByActor == "crm-sync")
      #expect(event.recordedByRole == "service")
      #expect(event.requestID == "req-1")
      let second = try await client.record("contact-1", "newsletter", .withdrawn)
      #expect(second.sequence == 2)
      #expect(second.prevHash == event.hash)
    }
  }

  @Test("CONSENT basis: allowed only while the latest decision is GRANTED")
  func consentBasis() async throws {
    try await withConsentService { client, _ async throws in
      try await client.upsert(purpose("newsletter"))
      var answer = try await client.check("c1", "newsletter")
      #expect(!answer.allowed && answer.reason == .noDecision && answer.legalBasis == .consent)

      let granted = try await client.record("c1", "newsletter", .granted)
      answer = try await client.check("c1", "newsletter")
      #expect(answer.allowed && answer.reason == .granted && answer.eventSequence == granted.sequence)

      try await client.record("c1", "newsletter", .withdrawn)
      answer = try await client.check("c1", "newsletter")
      #expect(!answer.allowed && answer.reason == .withdrawn && answer.decision == .withdrawn)

      try await client.record("c2", "newsletter", .denied)
      answer = try await client.check("c2", "newsletter")
      #expect(!answer.allowed && answer.reason == .denied)
    }
  }

  @Test("other bases: allowed unless the subject objected or is restricted")
  func otherBases() async throws {
    try await withConsentService { client, _ async throws in
      try await client.upsert(purpose("analytics", basis: .legitimateInterests, category: .engagementTracking))
      var answer = try await client.check("c1", "analytics")
      #expect(answer.allowed && answer.reason == .basisApplies && answer.legalBasis == .legitimateInterests)

      try await client.record("c1", "analytics", .withdrawn)
      answer = try await client.check("c1", "analytics")
      #expect(!answer.allowed && answer.reason == .objected)

      _ = try await client.setProcessingRestriction(.with {
        $0.subjectID = "c2"
        $0.restricted = true
        $0.reason = "subject contests accuracy"
      })
      answer = try await client.check("c2", "analytics")
      #expect(!answer.allowed && answer.reason == .restricted)
      _ = try await client.setProcessingRestriction(.with {
        $0.subjectID = "c2"
        $0.restricted = false
        $0.reason = "accuracy confirmed"
      })
      #expect(try await client.check("c2", "analytics").allowed)
    }
  }

  @Test("a decision may record a subject-specific basis, which CheckConsent then reports")
  func subjectBasis() async throws {
    try await withConsentService { client, _ async throws in
      try await client.upsert(purpose("crm", basis: .consent, category: .custom))
      let event = try await client.record("c1", "crm", .granted, basis: .contract)
      #expect(event.legalBasis == .contract)
      let answer = try await client.check("c1", "crm")
      #expect(answer.legalBasis == .contract && answer.reason == .basisApplies)
    }
  }

  @Test("unknown purpose is NOT_FOUND and unknown notice version FAILED_PRECONDITION; nothing changes")
  func unknownReferences() async throws {
    try await withConsentService { client, _ async throws in
      try await client.upsert(purpose("newsletter"))
      var error = await capturedRPCError { try await client.record("c1", "nope", .granted) }
      #expect(error?.code == .notFound)
      error = await capturedRPCError { try await client.record("c1", "newsletter", .granted, evidence: evidence(noticeVersion: "v9")) }
      #expect(error?.code == .failedPrecondition)
      #expect(error?.errorInfoReason == "UNKNOWN_NOTICE_VERSION")
      #expect(try await client.allEvents().isEmpty)
      #expect(!(try await client.check("c1", "newsletter").allowed))
    }
  }

  @Test("missing or malformed input is INVALID_ARGUMENT and nothing changes", arguments: [
    ("missing subject", { @Sendable (r: inout Privacy_Consent_V1_RecordConsentRequest) in r.subjectID = "" }),
    ("email as subject", { @Sendable (r: inout Privacy_Consent_V1_RecordConsentRequest) in r.subjectID = "ann@example.com" }),
    ("missing purpose", { @Sendable (r: inout Privacy_Consent_V1_RecordConsentRequest) in r.purposeID = "" }),
    ("missing decision", { @Sendable (r: inout Privacy_Consent_V1_RecordConsentRequest) in r.decision = .unspecified }),
    ("missing evidence", { @Sendable (r: inout Privacy_Consent_V1_RecordConsentRequest) in r.clearEvidence() }),
    ("missing channel", { @Sendable (r: inout Privacy_Consent_V1_RecordConsentRequest) in r.evidence.channel = .unspecified }),
    ("bad ip", { @Sendable (r: inout Privacy_Consent_V1_RecordConsentRequest) in r.evidence.ipAddress = "999.1.1.1" }),
    ("future capture", { @Sendable (r: inout Privacy_Consent_V1_RecordConsentRequest) in r.evidence.capturedAt = .init(date: .distantFuture) }),
    ("unknown basis", { @Sendable (r: inout Privacy_Consent_V1_RecordConsentRequest) in r.legalBasis = .UNRECOGNIZED(42) }),
  ] as [(String, @Sendable (inout Privacy_Consent_V1_RecordConsentRequest) -> Void)])
  func badInput(_ name: String, _ mutate: @Sendable (inout Privacy_Consent_V1_RecordConsentRequest) -> Void) async throws {
    try await withConsentService { client, _ async throws in
      try await client.upsert(purpose("newsletter"))
      var request = Privacy_Consent_V1_RecordConsentRequest.with {
        $0.subjectID = "c1"
        $0.purposeID = "newsletter"
        $0.decision = .granted
        $0.evidence = evidence()
      }
      mutate(&request)
      let error = await capturedRPCError { try await client.recordConsent(request) }
      #expect(error?.code == .invalidArgument, "\(name)")
      #expect(try await client.allEvents().isEmpty)
    }
  }

  @Test("a child's consent needs a guardian (art 8), and the child status is remembered")
  func children() async throws {
    try await withConsentService { client, _ async throws in
      try await client.upsert(purpose("newsletter"))
      var error = await capturedRPCError {
        try await client.record("kid", "newsletter", .granted, evidence: evidence(actorKind: .subject, age: .child))
      }
      #expect(error?.code == .failedPrecondition && error?.errorInfoReason == "GUARDIAN_REQUIRED")
      #expect(try await client.allEvents().isEmpty)

      let byGuardian = try await client.record("kid", "newsletter", .granted, evidence: evidence(actorKind: .guardian, age: .child))
      #expect(byGuardian.evidence.subjectAge == .child)
      #expect(try await client.check("kid", "newsletter").allowed)

      // Later evidence that does not say the age still counts the subject as a child.
      error = await capturedRPCError { try await client.record("kid", "newsletter", .granted, evidence: evidence(actorKind: .subject)) }
      #expect(error?.errorInfoReason == "GUARDIAN_REQUIRED")
      // Anyone may withdraw.
      try await client.record("kid", "newsletter", .withdrawn, evidence: evidence(actorKind: .subject))
      #expect(!(try await client.check("kid", "newsletter").allowed))
      // A non-consent basis needs no guardian.
      try await client.upsert(purpose("school", basis: .legalObligation, category: .custom))
      try await client.record("kid", "school", .granted, evidence: evidence(actorKind: .subject))
      #expect(try await client.getConsentState(.with { $0.subjectID = "kid" }).state.age == .child)
    }
  }

  @Test("GetConsentState evaluates every purpose; an unknown subject is NOT_FOUND")
  func consentState() async throws {
    try await withConsentService { client, _ async throws in
      try await client.upsert(purpose("newsletter"))
      try await client.upsert(purpose("analytics", basis: .legitimateInterests, category: .engagementTracking))
      try await client.record("c1", "newsletter", .granted)
      let state = try await client.getConsentState(.with { $0.subjectID = "c1" }).state
      #expect(state.purposes.map(\.purposeID) == ["analytics", "newsletter"])
      #expect(state.purposes.map(\.allowed) == [true, true])
      #expect(state.purposes[1].decision == .granted && state.purposes[1].noticeVersion == "v1")
      #expect(state.optInStatus == .none)
      let error = await capturedRPCError { try await client.getConsentState(.with { $0.subjectID = "ghost" }) }
      #expect(error?.code == .notFound)
    }
  }

  @Test("ListConsentEvents filters by subject, purpose and sequence, and pages")
  func listEvents() async throws {
    try await withConsentService { client, _ async throws in
      try await client.upsert(purpose("newsletter"))
      try await client.upsert(purpose("offers"))
      for index in 0..<5 {
        try await client.record("c\(index % 2)", index < 3 ? "newsletter" : "offers", .granted)
      }
      let firstPage = try await client.listConsentEvents(.with {
        $0.subjectID = "c0"
        $0.pageSize = 2
      })
      #expect(firstPage.events.map(\.sequence) == [1, 3])
      let secondPage = try await client.listConsentEvents(.with {
        $0.subjectID = "c0"
        $0.pageSize = 2
        $0.pageToken = firstPage.nextPageToken
      })
      #expect(secondPage.events.map(\.sequence) == [5] && secondPage.nextPageToken.isEmpty)
      let offers = try await client.listConsentEvents(.with { $0.purposeID = "offers" })
      #expect(offers.events.map(\.sequence) == [4, 5])
      // after_sequence reads on from a point, with the other filters and paging.
      let later = try await client.listConsentEvents(.with { $0.afterSequence = 2 })
      #expect(later.events.map(\.sequence) == [3, 4, 5])
      let laterOfC0 = try await client.listConsentEvents(.with {
        $0.subjectID = "c0"
        $0.afterSequence = 1
        $0.pageSize = 1
      })
      #expect(laterOfC0.events.map(\.sequence) == [3])
      let laterOfC0Next = try await client.listConsentEvents(.with {
        $0.subjectID = "c0"
        $0.afterSequence = 1
        $0.pageSize = 1
        $0.pageToken = laterOfC0.nextPageToken
      })
      #expect(laterOfC0Next.events.map(\.sequence) == [5] && laterOfC0Next.nextPageToken.isEmpty)
      // A token only works for the listing that issued it.
      let error = await capturedRPCError {
        try await client.listConsentEvents(.with {
          $0.subjectID = "c1"
          $0.pageToken = firstPage.nextPageToken
        })
      }
      #expect(error?.code == .invalidArgument)
      let negative = await capturedRPCError { try await client.listConsentEvents(.with { $0.pageSize = -1 }) }
      #expect(negative?.code == .invalidArgument)
    }
  }
}
