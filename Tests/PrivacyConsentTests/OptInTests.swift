import GRPCCore
import PrivacyProtocol
import PrivacyTesting
import Testing

@Suite("Email opt-in status")
struct OptInTests {
  typealias Status = Privacy_Consent_V1_OptInStatus
  typealias Setter = Privacy_Consent_V1_OptInSetter

  /// Every (start, target, setter) the rules decide, with the expected outcome.
  static let transitions: [(Status, Status, Setter, Bool)] = [
    (.none, .singleOptInUser, .user, true),
    (.none, .singleOptInUser, .contact, false),
    (.none, .singleOptInUser, .webform, false),
    (.none, .singleOptInWebform, .webform, true),
    (.none, .singleOptInWebform, .user, false),
    (.none, .doubleOptIn, .user, false),
    (.none, .doubleOptIn, .contact, false),
    (.none, .optOutUser, .user, true),
    (.none, .optOutUser, .contact, false),
    (.none, .optOutContact, .contact, true),
    (.none, .optOutContact, .user, false),
    (.optOutUser, .singleOptInUser, .user, true),
    (.optOutUser, .singleOptInWebform, .webform, true),
    (.optOutContact, .singleOptInUser, .user, false),
    (.optOutContact, .optOutUser, .user, false),
    (.optOutContact, .singleOptInWebform, .webform, true),
    (.singleOptInWebform, .none, .user, false),
  ]

  @Test("the transition rules", arguments: transitions)
  func transition(_ start: Status, _ target: Status, _ setter: Setter, _ allowed: Bool) async throws {
    try await withConsentService { client, _ async throws in
      switch start {
      case .none: break
      case .optOutUser: _ = try await client.setOptIn("c1", .optOutUser, by: .user)
      case .optOutContact: _ = try await client.setOptIn("c1", .optOutContact, by: .contact)
      case .singleOptInWebform: _ = try await client.setOptIn("c1", .singleOptInWebform, by: .webform)
      default: Issue.record("no setup for \(start)")
      }
      let before = try await client.allEvents()
      let error = await capturedRPCError { try await client.setOptIn("c1", target, by: setter) }
      if allowed {
        #expect(error == nil)
        let events = try await client.allEvents()
        #expect(events.count == before.count + 1)
        #expect(events.last?.kind == .optInStatusChanged && events.last?.optInStatus == target)
      } else {
        #expect(error?.code == .failedPrecondition && error?.errorInfoReason == "ILLEGAL_OPT_IN_TRANSITION")
        #expect(try await client.allEvents() == before)
      }
    }
  }

  @Test("setting the current status again records nothing; the response tells the previous status")
  func noChange() async throws {
    try await withConsentService { client, _ async throws in
      let first = try await client.setOptIn("c1", .optOutUser, by: .user)
      #expect(first.previousStatus == .none && first.status == .optOutUser && first.hasEvent)
      #expect(first.event.evidence.channel == .manual && first.event.evidence.actorKind == .staff)
      let again = try await client.setOptIn("c1", .optOutUser, by: .user)
      #expect(!again.hasEvent && again.status == .optOutUser)
      #expect(try await client.allEvents().count == 1)
    }
  }

  @Test("missing status or setter is INVALID_ARGUMENT")
  func badInput() async throws {
    try await withConsentService { client, _ async throws in
      var error = await capturedRPCError { try await client.setOptIn("c1", .unspecified, by: .user) }
      #expect(error?.code == .invalidArgument)
      error = await capturedRPCError { try await client.setOptIn("c1", .singleOptInUser, by: .unspecified) }
      #expect(error?.code == .invalidArgument)
      #expect(try await client.allEvents().isEmpty)
    }
  }
}

@Suite("Email eligibility")
struct EligibilityTests {
  private func eligible(
    _ client: ConsentClient, _ subject: String, _ kind: Privacy_Consent_V1_MessageKind,
    policy: Privacy_Consent_V1_EligibilityPolicy = .anyOptIn, list: String = "", purpose: String = ""
  ) async throws -> Privacy_Consent_V1_CheckEmailEligibilityResponse {
    try await client.checkEmailEligibility(.with {
      $0.subjectID = subject
      $0.messageKind = kind
      $0.policy = policy
      $0.listID = list
      $0.purposeID = purpose
    })
  }

  @Test("every kind but REPLY needs email-marketing consent: none, denied or withdrawn blocks; a named purpose decides alone")
  func marketingConsent() async throws {
    try await withConsentService { client, _ async throws in
      try await client.upsert(purpose("newsletter"))
      try await client.upsert(purpose("offers"))
      try await client.upsert(purpose("tips", basis: .legitimateInterests))
      for subject in ["granted", "none", "withdrawn", "mixed"] { _ = try await client.setOptIn(subject, .singleOptInUser, by: .user) }
      try await client.record("granted", "newsletter", .granted)
      try await client.record("withdrawn", "newsletter", .granted)
      try await client.record("withdrawn", "newsletter", .withdrawn)
      try await client.record("mixed", "newsletter", .granted)
      try await client.record("mixed", "offers", .denied)
      let kinds: [Privacy_Consent_V1_MessageKind] = [.campaign, .autoresponder, .workflow, .adHoc]
      for kind in kinds {
        #expect(try await eligible(client, "granted", kind).allowed, "\(kind)")
        for subject in ["none", "withdrawn", "mixed"] {
          let answer = try await eligible(client, subject, kind)
          #expect(!answer.allowed && answer.reason == .noMarketingConsent, "\(subject) \(kind)")
          #expect(!answer.detail.isEmpty)
        }
      }
      for subject in ["none", "withdrawn", "mixed"] { #expect(try await eligible(client, subject, .reply).allowed) }
      // The email names the purpose it is sent under: that purpose alone decides.
      #expect(try await eligible(client, "mixed", .campaign, purpose: "newsletter").allowed)
      #expect(!(try await eligible(client, "mixed", .campaign, purpose: "offers").allowed))
      #expect(try await eligible(client, "none", .workflow, purpose: "tips").allowed)
      let unknown = await capturedRPCError { try await eligible(client, "none", .campaign, purpose: "ghost") }
      #expect(unknown?.code == .notFound)
      let malformed = await capturedRPCError { try await eligible(client, "none", .campaign, purpose: "Not A Slug") }
      #expect(malformed?.code == .invalidArgument)
    }
  }

  @Test("REPLY is always allowed; other kinds are blocked by opt-out and restriction")
  func blocking() async throws {
    try await withConsentService { client, _ async throws in
      _ = try await client.setOptIn("out", .optOutContact, by: .contact)
      _ = try await client.setProcessingRestriction(.with {
        $0.subjectID = "frozen"
        $0.restricted = true
        $0.reason = "art 18 request"
      })
      for subject in ["out", "frozen"] {
        #expect(try await eligible(client, subject, .reply).allowed)
        for kind: Privacy_Consent_V1_MessageKind in [.campaign, .autoresponder, .workflow, .adHoc] {
          let answer = try await eligible(client, subject, kind)
          #expect(!answer.allowed, "\(subject) \(kind)")
          #expect(answer.reason == (subject == "out" ? .optedOut : .restricted))
        }
      }
      // Nothing blocks a transactional message to a contact without any status.
      #expect(try await eligible(client, "new", .workflow).allowed)
    }
  }

  @Test("CAMPAIGN needs a status the policy accepts")
  func policies() async throws {
    try await withConsentService { client, _ async throws in
      _ = try await client.setOptIn("user", .singleOptInUser, by: .user)
      _ = try await client.setOptIn("form", .singleOptInWebform, by: .webform)
      let expectations: [(String, Privacy_Consent_V1_EligibilityPolicy, Bool)] = [
        ("user", .doubleOnly, false), ("user", .doubleOrUser, true), ("user", .anyOptIn, true),
        ("form", .doubleOnly, false), ("form", .doubleOrUser, false), ("form", .anyOptIn, true),
        ("none", .anyOptIn, false),
      ]
      for (subject, policy, allowed) in expectations {
        let answer = try await eligible(client, subject, .campaign, policy: policy)
        #expect(answer.allowed == allowed, "\(subject) \(policy)")
        if !allowed { #expect(answer.reason == .policyNotMet) }
      }
      let error = await capturedRPCError { try await eligible(client, "user", .campaign, policy: .unspecified) }
      #expect(error?.code == .invalidArgument)
    }
  }

  @Test("a CAMPAIGN to a list needs a subscription, by choice or by the list's default")
  func lists() async throws {
    try await withConsentService { client, _ async throws in
      _ = try await client.upsertMailingList(.with { $0.list = .with { $0.listID = "news"; $0.name = "News"; $0.defaultSubscribed = true } })
      _ = try await client.upsertMailingList(.with { $0.list = .with { $0.listID = "offers"; $0.name = "Offers" } })
      _ = try await client.setOptIn("c1", .singleOptInUser, by: .user)
      #expect(try await eligible(client, "c1", .campaign, list: "news").allowed)
      let notSubscribed = try await eligible(client, "c1", .campaign, list: "offers")
      #expect(!notSubscribed.allowed && notSubscribed.reason == .notSubscribed)
      _ = try await client.subscribe(.with { $0.subjectID = "c1"; $0.listID = "offers"; $0.evidence = evidence() })
      #expect(try await eligible(client, "c1", .campaign, list: "offers").allowed)
      _ = try await client.unsubscribe(.with { $0.subjectID = "c1"; $0.listID = "news"; $0.evidence = evidence() })
      #expect(!(try await eligible(client, "c1", .campaign, list: "news").allowed))
      let unknown = await capturedRPCError { try await eligible(client, "c1", .campaign, list: "ghost") }
      #expect(unknown?.code == .notFound)
    }
  }
}
