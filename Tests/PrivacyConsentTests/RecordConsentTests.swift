import Foundation
import GRPCCore
import PrivacyConsent
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

  /// A guardian asks for the grant with the guardian's address, then follows the link sent there.
  static func guardianGrants(
    _ client: ConsentClient, _ subject: String, _ purpose: String, evidence: Privacy_Consent_V1_Evidence
  ) async throws -> Privacy_Consent_V1_ConsentEvent {
    let requested = try await client.requestPreferenceChange(.with {
      $0.subjectID = subject
      $0.emailAddress = "guardian@example.org"
      $0.changes = [.with { $0.consent = .with { $0.purposeID = purpose; $0.decision = .granted } }]
      $0.evidence = evidence
    })
    let message = try #require(try await client.pendingOutbox().first { $0.messageID == requested.messageID })
    #expect(message.emailAddress == "guardian@example.org")
    let confirmed = try await client.confirmPreferenceChange(.with {
      $0.token = try token(in: message.link)
      $0.ipAddress = "203.0.113.9"
    })
    return try #require(confirmed.events.first)
  }

  @Test("a child's consent needs a guardian confirming by email (art 8), and the child status is remembered")
  func children() async throws {
    try await withConsentService { client, _ async throws in
      try await client.upsert(purpose("newsletter"))
      var error = await capturedRPCError {
        try await client.record("kid", "newsletter", .granted, evidence: evidence(actorKind: .subject, age: .child))
      }
      #expect(error?.code == .failedPrecondition && error?.errorInfoReason == "GUARDIAN_REQUIRED")
      #expect(try await client.allEvents().isEmpty)

      // A guardian's word in a direct write is not enough: it must be confirmed by the link sent
      // to the guardian's address. A direct write cannot claim to be that click.
      error = await capturedRPCError {
        try await client.record("kid", "newsletter", .granted, evidence: evidence(actorKind: .guardian, age: .child))
      }
      #expect(error?.errorInfoReason == "GUARDIAN_REQUIRED")
      var forged = evidence(channel: .emailLink, actorKind: .guardian, age: .child)
      forged.actor = "Maria Rossi"
      error = await capturedRPCError { try await client.record("kid", "newsletter", .granted, evidence: forged) }
      #expect(error?.code == .invalidArgument)
      var unnamed = evidence(actorKind: .guardian, age: .child)
      unnamed.actor = ""
      error = await capturedRPCError { try await Self.guardianGrants(client, "kid", "newsletter", evidence: unnamed) }
      #expect(error?.code == .invalidArgument)

      var asGuardian = evidence(actorKind: .guardian, age: .child)
      asGuardian.actor = "Maria Rossi (mother)"
      let byGuardian = try await Self.guardianGrants(client, "kid", "newsletter", evidence: asGuardian)
      #expect(byGuardian.evidence.subjectAge == .child && byGuardian.evidence.actorKind == .guardian)
      #expect(byGuardian.evidence.actor == "Maria Rossi (mother)" && byGuardian.evidence.channel == .emailLink)
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

  @Test("birth date and country decide the child status by the member state's age of digital consent (13 to 16)")
  func ageOfDigitalConsent() async throws {
    /// A birth date `years` and a half ago, written YYYY-MM-DD.
    func born(_ years: Int) -> String {
      let date = Calendar(identifier: .gregorian).date(byAdding: .month, value: -(years * 12 + 6), to: Date())!
      let parts = Calendar(identifier: .gregorian).dateComponents(in: TimeZone(identifier: "UTC")!, from: date)
      return String(format: "%04d-%02d-%02d", parts.year!, parts.month!, parts.day!)
    }
    func evidence(_ birth: String, _ country: String, guardian: String? = nil) -> Privacy_Consent_V1_Evidence {
      var evidence = PrivacyConsentTests.evidence(actorKind: guardian == nil ? .subject : .guardian)
      evidence.birthDate = birth
      evidence.country = country
      if let guardian { evidence.actor = guardian }
      return evidence
    }
    try await withConsentService { client, _ async throws in
      try await client.upsert(purpose("newsletter"))
      // Thirteen and a half: of age in Denmark (13), a child in Italy (14) and Germany (16).
      try await client.record("dk", "newsletter", .granted, evidence: evidence(born(13), "DK"))
      #expect(try await client.getConsentState(.with { $0.subjectID = "dk" }).state.age == .adult)
      for country in ["IT", "DE"] {
        let refused = await capturedRPCError { try await client.record("kid-\(country)", "newsletter", .granted, evidence: evidence(born(13), country)) }
        #expect(refused?.errorInfoReason == "GUARDIAN_REQUIRED", "\(country)")
      }
      // Fourteen and a half is of age in Italy; a country the table does not list uses 16.
      try await client.record("it", "newsletter", .granted, evidence: evidence(born(14), "IT"))
      let unlisted = await capturedRPCError { try await client.record("xx", "newsletter", .granted, evidence: evidence(born(15), "US")) }
      #expect(unlisted?.errorInfoReason == "GUARDIAN_REQUIRED")
      // The guardian's decision names the guardian; neither the birth date nor the country is kept.
      let byGuardian = try await Self.guardianGrants(client, "kid-DE", "newsletter", evidence: evidence(born(13), "DE", guardian: "Maria Rossi (mother)"))
      #expect(byGuardian.evidence.subjectAge == .child && byGuardian.evidence.actorKind == .guardian && byGuardian.evidence.actor == "Maria Rossi (mother)")
      #expect(byGuardian.evidence.birthDate.isEmpty && byGuardian.evidence.country.isEmpty && byGuardian.evidence.channel == .emailLink)

      for (birth, country, age) in [(born(13), "", Privacy_Consent_V1_SubjectAge.unspecified), ("", "IT", .unspecified), ("2010-13-01", "IT", .unspecified),
        ("2999-01-01", "IT", .unspecified), (born(13), "Italy", .unspecified), (born(30), "IT", .child)] {
        var bad = evidence(birth, country)
        bad.subjectAge = age
        let refused = await capturedRPCError { try await client.record("bad", "newsletter", .granted, evidence: bad) }
        #expect(refused?.code == .invalidArgument, "\(birth) \(country) \(age)")
      }
    }
  }

  @Test("the age-of-digital-consent table covers the EU and EEA states, each between 13 and 16")
  func ageTable() {
    let eu = ["AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE"]
    #expect(Set(DigitalConsentAge.byCountry.keys) == Set(eu + ["IS", "LI", "NO"]))
    #expect(DigitalConsentAge.byCountry.values.allSatisfy { (13...16).contains($0) })
    #expect(DigitalConsentAge.age(in: "US") == 16)
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
