import Foundation
import GRDB
import GRPCCore
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Testing

@Suite("Double opt-in and preference changes")
struct DoubleOptInTests {
  @Test("start issues a link in the outbox; confirming records the click and sets DOUBLE_OPT_IN")
  func confirm() async throws {
    try await withConsentService { client, fixture async throws in
      _ = try await client.setOptIn("c1", .singleOptInWebform, by: .webform)
      let started = try await client.startDoubleOptIn(.with {
        $0.subjectID = "c1"
        $0.emailAddress = "ann@example.com"
      })
      #expect(started.event.kind == .doubleOptInStarted && started.event.evidence.emailAddress == "ann@example.com")
      #expect(started.expiresAt.date == fixture.clock.now().addingTimeInterval(7 * 86_400))
      let message = try #require(try await client.pendingOutbox().first)
      #expect(message.messageID == started.messageID && message.kind == .doubleOptIn)
      #expect(message.emailAddress == "ann@example.com")
      #expect(message.link.hasPrefix("https://privacy.example.com/confirm/double-opt-in?token="))
      #expect(message.body.contains(message.link))
      let token = try token(in: message.link)
      #expect(token.count >= 22)  // at least 128 bits in base64url

      // Only the token's hash is kept with the confirmation.
      let stored = try await DatabaseQueue(path: fixture.databasePath).read { db in
        try String.fetchAll(db, sql: "SELECT token_hash FROM confirmations")
      }
      #expect(stored == [SecureToken.hash(token)])

      let confirmed = try await client.confirmDoubleOptIn(.with {
        $0.token = token
        $0.ipAddress = "2001:db8::1"
        $0.userAgent = "Mail client"
      })
      #expect(confirmed.subjectID == "c1")
      #expect(confirmed.event.optInStatus == .doubleOptIn)
      #expect(confirmed.event.evidence.channel == .emailLink)
      #expect(confirmed.event.evidence.ipAddress == "2001:db8::1" && confirmed.event.evidence.userAgent == "Mail client")
      let state = try await client.getConsentState(.with { $0.subjectID = "c1" }).state
      #expect(state.optInStatus == .doubleOptIn)

      // Acknowledging the message wipes its link, and with it the clear token.
      _ = try await client.ackOutbox(.with { $0.messageIds = [message.messageID] })
      #expect(try await client.pendingOutbox().isEmpty)
      let acked = try await client.listOutbox(.with { $0.includeAcked = true }).messages
      #expect(acked.count == 1 && acked[0].link.isEmpty && acked[0].body.isEmpty && acked[0].hasAckedAt)
      #expect(!filesContain(SQLiteDatabase.files(of: fixture.databasePath), token))
    }
  }

  @Test("reused, expired, replaced and unknown tokens are refused precisely and change nothing")
  func badTokens() async throws {
    try await withConsentService { client, fixture async throws in
      func start() async throws -> String {
        _ = try await client.startDoubleOptIn(.with {
          $0.subjectID = "c1"
          $0.emailAddress = "ann@example.com"
        })
        return try token(in: try #require(try await client.pendingOutbox().last).link)
      }
      func confirm(_ token: String) async -> RPCError? {
        await capturedRPCError { try await client.confirmDoubleOptIn(.with { $0.token = token }) }
      }

      let used = try await start()
      #expect(await confirm(used) == nil)
      var before = try await client.allEvents()
      var error = await confirm(used)
      #expect(error?.code == .failedPrecondition && error?.errorInfoReason == "TOKEN_ALREADY_USED")

      let replaced = try await start()
      let current = try await start()
      before = try await client.allEvents()
      error = await confirm(replaced)
      #expect(error?.errorInfoReason == "TOKEN_SUPERSEDED")

      fixture.clock.advance(by: 7 * 86_400 + 1)
      error = await confirm(current)
      #expect(error?.code == .failedPrecondition && error?.errorInfoReason == "TOKEN_EXPIRED")

      error = await confirm("not-a-token")
      #expect(error?.code == .notFound)
      error = await confirm("")
      #expect(error?.code == .invalidArgument)
      #expect(try await client.allEvents() == before)
    }
  }

  @Test("a link that expires unconfirmed becomes one DOUBLE_OPT_IN_EXPIRED event; used and replaced links never do")
  func expiry() async throws {
    let fixture = try ConsentFixture(environment: ["DOUBLE_OPT_IN_EXPIRY_CHECK_SECONDS": "1"])
    func start(_ subject: String) async throws -> String {
      try await fixture.run { client async throws in
        _ = try await client.startDoubleOptIn(.with {
          $0.subjectID = subject
          $0.emailAddress = "\(subject)@example.com"
        })
        return try token(in: try #require(try await client.pendingOutbox().last).link)
      }
    }
    let confirmed = try await start("confirmed")
    _ = try await start("replaced")
    _ = try await start("replaced")
    _ = try await start("lapsed")
    try await fixture.run { client async throws in
      _ = try await client.confirmDoubleOptIn(.with { $0.token = confirmed })
      fixture.clock.advance(by: 7 * 86_400 + 1)
      #expect(try await eventually { try await client.allEvents().contains { $0.kind == .doubleOptInExpired && $0.subjectID == "replaced" } })
      let expired = try await client.allEvents().filter { $0.kind == .doubleOptInExpired }
      // One for the unconfirmed link and one for the newer of the two sent to "replaced".
      #expect(expired.map(\.subjectID).sorted() == ["lapsed", "replaced"])
      #expect(expired.allSatisfy {
        $0.evidence.actorKind == .system && $0.evidence.emailAddress.isEmpty && $0.reason.contains("expired") && $0.recordedByActor == "consent-service"
      })
      #expect(try await client.verify().valid)
    }
    // A restart records nothing again.
    try await fixture.run { client async throws in
      try await Task.sleep(for: .seconds(1.5))
      #expect(try await client.allEvents().filter { $0.kind == .doubleOptInExpired }.count == 2)
    }
  }

  @Test("no double opt-in after the contact opted out, and a malformed address is refused")
  func refused() async throws {
    try await withConsentService { client, _ async throws in
      _ = try await client.setOptIn("c1", .optOutContact, by: .contact)
      var error = await capturedRPCError {
        try await client.startDoubleOptIn(.with {
          $0.subjectID = "c1"
          $0.emailAddress = "ann@example.com"
        })
      }
      #expect(error?.code == .failedPrecondition && error?.errorInfoReason == "ILLEGAL_OPT_IN_TRANSITION")
      for address in ["", "ann", "ann@example", "a@b@example.com", "ann @example.com"] {
        error = await capturedRPCError {
          try await client.startDoubleOptIn(.with {
            $0.subjectID = "c2"
            $0.emailAddress = address
          })
        }
        #expect(error?.code == .invalidArgument, "\(address)")
      }
      #expect(try await client.pendingOutbox().isEmpty)
    }
  }

  @Test("a preference change applies nothing until confirmed, then all of it at once")
  func preferenceChange() async throws {
    try await withConsentService { client, _ async throws in
      try await client.upsert(purpose("newsletter"))
      try await client.upsert(purpose("profiling", category: .automatedDecisions))
      _ = try await client.upsertMailingList(.with { $0.list = .with { $0.listID = "offers"; $0.name = "Offers" } })
      try await client.record("c1", "newsletter", .granted)

      let requested = try await client.requestPreferenceChange(.with {
        $0.subjectID = "c1"
        $0.emailAddress = "ann@example.com"
        $0.changes = [
          .with { $0.consent = .with { $0.purposeID = "newsletter"; $0.decision = .withdrawn } },
          .with { $0.consent = .with { $0.purposeID = "profiling"; $0.decision = .granted } },
          .with { $0.subscription = .with { $0.listID = "offers"; $0.subscribed = true } },
        ]
      })
      #expect(try await client.check("c1", "newsletter").allowed)
      #expect(!(try await client.check("c1", "profiling").allowed))
      #expect(try await client.allEvents().count == 1)

      let message = try #require(try await client.pendingOutbox().first { $0.messageID == requested.messageID })
      #expect(message.kind == .preferenceConfirmation)
      let confirmed = try await client.confirmPreferenceChange(.with {
        $0.token = try token(in: message.link)
        $0.ipAddress = "203.0.113.9"
      })
      #expect(confirmed.changeID == requested.changeID && confirmed.events.count == 3)
      // Asked for on the preference page (the request's default channel), confirmed by the click.
      #expect(confirmed.events.allSatisfy { $0.preferenceChangeID == requested.changeID && $0.evidence.channel == .preferencePage })
      #expect(confirmed.events.allSatisfy { $0.evidence.ipAddress == "203.0.113.9" })
      #expect(!(try await client.check("c1", "newsletter").allowed))
      #expect(try await client.check("c1", "profiling").allowed)
      let offers = try await client.listSubscriptions(.with { $0.subjectID = "c1" }).subscriptions.first { $0.listID == "offers" }
      #expect(offers?.subscribed == true && offers?.explicit == true)

      let again = await capturedRPCError { try await client.confirmPreferenceChange(.with { $0.token = try token(in: message.link) }) }
      #expect(again?.errorInfoReason == "TOKEN_ALREADY_USED")
    }
  }

  @Test("stopping processing from the page is a confirmed change: restricted with the click as evidence (only REPLY mail allowed), then resumed")
  func restrictionChange() async throws {
    try await withConsentService { client, _ async throws in
      try await client.upsert(purpose("newsletter"))
      _ = try await client.setOptIn("c1", .singleOptInUser, by: .user)
      try await client.record("c1", "newsletter", .granted)
      func ask(_ restricted: Bool) async throws -> Privacy_Consent_V1_ConfirmPreferenceChangeResponse {
        let before = try await client.getConsentState(.with { $0.subjectID = "c1" }).state.restricted
        let requested = try await client.requestPreferenceChange(.with {
          $0.subjectID = "c1"
          $0.emailAddress = "ann@example.com"
          $0.changes = [.with { $0.restriction = .with { $0.restricted = restricted } }]
        })
        #expect(try await client.getConsentState(.with { $0.subjectID = "c1" }).state.restricted == before, "nothing before the click")
        let message = try #require(try await client.pendingOutbox().first { $0.messageID == requested.messageID })
        return try await client.confirmPreferenceChange(.with {
          $0.token = try token(in: message.link)
          $0.ipAddress = "203.0.113.9"
        })
      }
      func eligible(_ kind: Privacy_Consent_V1_MessageKind) async throws -> Bool {
        try await client.checkEmailEligibility(.with {
          $0.subjectID = "c1"
          $0.messageKind = kind
          $0.policy = .anyOptIn
        }).allowed
      }

      let stopped = try await ask(true)
      let event = try #require(stopped.events.first)
      #expect(stopped.events.count == 1 && event.kind == .restrictionChanged && event.restricted)
      #expect(event.reason == "asked for by the subject" && event.evidence.channel == .preferencePage)
      #expect(event.evidence.ipAddress == "203.0.113.9")
      #expect(try await eligible(.campaign) == false)
      #expect(try await eligible(.reply))
      #expect(!(try await client.check("c1", "newsletter").allowed))

      let resumed = try await ask(false)
      #expect(resumed.events.count == 1 && resumed.events.first?.restricted == false)
      #expect(try await eligible(.campaign))
      #expect(try await client.check("c1", "newsletter").allowed)
      // Asking for the state the subject is already in changes nothing on confirmation.
      #expect(try await ask(false).events.isEmpty)
    }
  }

  @Test("a preference change naming an unknown purpose or list is refused and stores nothing")
  func badPreferenceChange() async throws {
    try await withConsentService { client, _ async throws in
      var error = await capturedRPCError {
        try await client.requestPreferenceChange(.with {
          $0.subjectID = "c1"
          $0.emailAddress = "ann@example.com"
          $0.changes = [.with { $0.consent = .with { $0.purposeID = "ghost"; $0.decision = .granted } }]
        })
      }
      #expect(error?.code == .notFound)
      error = await capturedRPCError {
        try await client.requestPreferenceChange(.with {
          $0.subjectID = "c1"
          $0.emailAddress = "ann@example.com"
        })
      }
      #expect(error?.code == .invalidArgument)
      #expect(try await client.pendingOutbox().isEmpty)
    }
  }

  @Test("AckOutbox with an unknown id acknowledges nothing")
  func ackUnknown() async throws {
    try await withConsentService { client, _ async throws in
      _ = try await client.startDoubleOptIn(.with {
        $0.subjectID = "c1"
        $0.emailAddress = "ann@example.com"
      })
      let message = try #require(try await client.pendingOutbox().first)
      let error = await capturedRPCError { try await client.ackOutbox(.with { $0.messageIds = [message.messageID, "ghost"] }) }
      #expect(error?.code == .notFound)
      #expect(try await client.pendingOutbox().count == 1)
      for ids in [[], Array(repeating: message.messageID, count: 1001)] {
        let refused = await capturedRPCError { try await client.ackOutbox(.with { $0.messageIds = ids }) }
        #expect(refused?.code == .invalidArgument)
      }
      #expect(try await client.pendingOutbox().count == 1)
    }
  }
}
