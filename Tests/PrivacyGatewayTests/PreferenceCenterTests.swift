import Foundation
import GRPCCore
import PrivacyGateway
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Testing

/// The preference center's routes over real HTTP, against a real gateway and backends.
@Suite("Preference center")
struct PreferenceCenterTests {
  static let owner = TestData.subject
  /// The consent service's links point at the page, as in production.
  static let backendEnvironment = [
    "PUBLIC_BASE_URL": "https://privacy.example.com", "RECEIPT_SIGNING_KEY": Data((1...32).map { UInt8($0) }).base64EncodedString(),
  ]

  private func consent<T: Sendable>(_ backends: [BackendKind: Int], _ body: (ConsentClient) async throws -> T) async throws -> T {
    try await withTestClient(port: backends[.consent]!) { client async throws in try await body(ConsentClient(wrapping: client)) }
  }

  @Test("the page shows the subject's email status, lists and consents grouped by kind, each with its basis, under strict headers")
  func page() async throws {
    let fixture = try GatewayFixture()
    try await fixture.run(backendEnvironment: Self.backendEnvironment) { port, backends async throws in
      let token = try await PreferenceCenterHarness.prepare(gateway: port, backends)
      try await PreferenceCenterHarness.run(gatewayPort: port) { base async throws in
        let page = try await curl("\(base)/p/\(token)")
        #expect(page.status == 200)
        #expect(page.headers["content-security-policy"]?.contains("default-src 'none'") == true)
        #expect(page.headers["content-security-policy"]?.contains("unsafe-inline") == false)
        #expect(page.headers["referrer-policy"] == "no-referrer" && page.headers["cache-control"] == "no-store")
        #expect(page.headers["x-frame-options"] == "DENY")
        #expect(!page.body.contains("<script"))
        for text in ["Your privacy preferences", "Monthly news", "Storage", "Partners", "Scoring", "Analytics", "Newsletter"] {
          #expect(page.body.contains(text), "the page lacks \(text)")
        }
        #expect(page.body.contains("Lawful basis: our legitimate interests. It is not yours to withdraw, but you may object."))
        #expect(page.body.contains("Data covered: diagnosis, iban."))
        #expect(page.body.contains("You accepted version v1"))  // the newsletter notice
        // Sections in the order of the design: statement, email, notices, consents, restriction.
        let order = ["id=\"statement\"", "id=\"email\"", "id=\"policies\"", "id=\"consents\"", "id=\"restriction\""]
          .compactMap { page.body.range(of: $0)?.lowerBound }
        #expect(order.count == 5 && order == order.sorted())
        #expect(!page.body.contains(Self.owner) && !page.body.contains(TestData.values["email"]!))

        let italian = try await curl("\(base)/p/\(token)", headers: ["Accept-Language": "it-IT,it;q=0.9,en;q=0.5"])
        #expect(italian.body.contains("Le tue preferenze sulla privacy") && italian.body.contains("lang=\"it\""))
        // A contact the ledger knows nothing about yet gets the page too, asked every purpose.
        let newcomer = try await asRole("service", port: port) { client async throws in
          try await ConsentClient(wrapping: client).createPreferenceLink(.with { $0.subjectID = "c-3003" }).url
        }
        let fresh = try await curl("\(base)/p/\(try #require(newcomer.split(separator: "/").last))")
        #expect(fresh.status == 200 && fresh.body.contains("id=\"purpose-partners\""), "\(fresh.body)")
        let switched = try await curl("\(base)/p/\(token)?lang=en", headers: ["Accept-Language": "it"])
        #expect(switched.body.contains("Your privacy preferences"))
        let css = try await curl("\(base)/static/style.css")
        #expect(css.status == 200 && css.headers["content-type"]?.hasPrefix("text/css") == true)
      }
    }
  }

  @Test("unknown, malformed and revoked links get the same neutral page, and a link for A shows nothing of B")
  func neutralPage() async throws {
    let fixture = try GatewayFixture()
    try await fixture.run(backendEnvironment: Self.backendEnvironment) { port, backends async throws in
      let token = try await PreferenceCenterHarness.prepare(gateway: port, backends)
      try await PreferenceCenterHarness.run(gatewayPort: port) { base async throws in
        let unknown = try await curl("\(base)/p/\(SecureToken.generate())")
        let malformed = try await curl("\(base)/p/not%20a%20token")
        _ = try await consent(backends) { try await $0.revokePreferenceLinks(.with { $0.subjectID = Self.owner }) }
        let revoked = try await curl("\(base)/p/\(token)")
        for reply in [unknown, malformed, revoked] {
          #expect(reply.status == 404)
          #expect(reply.body == unknown.body)
          #expect(reply.headers["referrer-policy"] == "no-referrer")
        }
        #expect(unknown.body.contains("This link does not open a page"))
      }
    }
  }

  @Test("saving asks for changes and changes nothing; the emailed confirmation applies them, once, with the click's evidence")
  func changesWaitForConfirmation() async throws {
    let fixture = try GatewayFixture()
    try await fixture.run(backendEnvironment: Self.backendEnvironment) { port, backends async throws in
      let token = try await PreferenceCenterHarness.prepare(gateway: port, backends)
      try await PreferenceCenterHarness.run(gatewayPort: port) { base async throws in
        let page = try await curl("\(base)/p/\(token)")
        let csrf = try #require(page.hiddenField("csrf"))
        // Keep the newsletter, grant partners, subscribe to the list.
        let saved = try await curl(
          "\(base)/p/\(token)/changes", method: "POST", form: "csrf=\(csrf)&purpose.newsletter=on&purpose.partners=on&list.news=on")
        #expect(saved.status == 200 && saved.body.contains("Check your email"))

        let message = try await consent(backends) { consent async throws in
          let state = try await consent.getConsentState(.with { $0.subjectID = Self.owner }).state
          #expect(state.purposes.first { $0.purposeID == "partners" }?.decision == .unspecified)
          return try #require(try await consent.listOutbox(.with { $0.pageSize = 100 }).messages.first { $0.kind == .preferenceConfirmation })
        }
        #expect(message.emailAddress == TestData.values["email"])
        #expect(message.link.hasPrefix("https://privacy.example.com/confirm/preferences?token="))
        let confirmPath = String(message.link.dropFirst("https://privacy.example.com".count))

        // Following the link shows a button and confirms nothing (mail scanners follow links).
        let landing = try await curl(base + confirmPath)
        #expect(landing.status == 200 && landing.body.contains("Confirm your changes"))
        let confirmToken = try #require(landing.hiddenField("token"))
        let confirmCSRF = try #require(landing.hiddenField("csrf"))
        let unconfirmed = try await consent(backends) { try await $0.getConsentState(.with { $0.subjectID = Self.owner }).state }
        #expect(unconfirmed.purposes.first { $0.purposeID == "partners" }?.decision == .unspecified)

        let confirmed = try await curl(
          "\(base)/confirm/preferences", method: "POST", headers: ["User-Agent": "PageTest/1.0"],
          form: "token=\(confirmToken)&csrf=\(confirmCSRF)")
        #expect(confirmed.status == 200 && confirmed.body.contains("Your changes are saved"))
        try await consent(backends) { consent async throws in
          let state = try await consent.getConsentState(.with { $0.subjectID = Self.owner }).state
          #expect(state.purposes.first { $0.purposeID == "partners" }?.decision == .granted)
          let lists = try await consent.listSubscriptions(.with { $0.subjectID = Self.owner }).subscriptions
          #expect(lists.first { $0.listID == "news" }?.subscribed == true)
          let events = try await consent.listConsentEvents(.with { $0.subjectID = Self.owner }).events
          let partners = try #require(events.last { $0.purposeID == "partners" })
          #expect(partners.evidence.ipAddress == "127.0.0.1" && partners.evidence.userAgent == "PageTest/1.0")
        }
        let again = try await curl("\(base)/confirm/preferences", method: "POST", form: "token=\(confirmToken)&csrf=\(confirmCSRF)")
        #expect(again.status == 410 && again.body.contains("cannot be used"))
      }
    }
  }

  @Test("a form without the page's CSRF token, or with a box the page does not offer, changes nothing")
  func formsRefused() async throws {
    let fixture = try GatewayFixture()
    try await fixture.run(backendEnvironment: Self.backendEnvironment) { port, backends async throws in
      let token = try await PreferenceCenterHarness.prepare(gateway: port, backends)
      try await PreferenceCenterHarness.run(gatewayPort: port) { base async throws in
        let csrf = try #require(try await curl("\(base)/p/\(token)").hiddenField("csrf"))
        let refused = [
          try await curl("\(base)/p/\(token)/changes", method: "POST", form: "purpose.partners=on"),
          try await curl("\(base)/p/\(token)/changes", method: "POST", form: "csrf=forged&purpose.partners=on"),
          try await curl("\(base)/p/\(token)/changes", method: "POST", form: "csrf=\(csrf)&purpose.unknown=on"),
          try await curl("\(base)/p/\(token)/changes", method: "POST", form: "csrf=\(csrf)&purpose.partners=yes"),
          try await curl("\(base)/p/\(token)/changes", method: "POST", form: "csrf=\(csrf)&subject_id=c-2002&purpose.partners=on"),
          try await curl("\(base)/confirm/preferences", method: "POST", form: "token=\(SecureToken.generate())&csrf=\(csrf)"),
          // Over the 64 KiB a form may have.
          try await curl("\(base)/p/\(token)/changes", method: "POST", form: "csrf=\(csrf)&purpose.partners=on&x=" + String(repeating: "a", count: 70_000)),
        ]
        for reply in refused {
          #expect(reply.status == 400 && reply.body.contains("Nothing was changed"))
        }
        let unchanged = try await curl("\(base)/p/\(token)/changes", method: "POST", form: "csrf=\(csrf)&purpose.newsletter=on")
        #expect(unchanged.status == 200 && unchanged.body.contains("Nothing to change"))
        let outbox = try await consent(backends) { try await $0.listOutbox(.with { $0.pageSize = 100 }).messages }
        #expect(outbox.isEmpty)
      }
    }
  }

  @Test("one-click unsubscribe: a POST opts out at once with channel EMAIL_LINK; a GET only shows the button")
  func oneClick() async throws {
    let fixture = try GatewayFixture()
    try await fixture.run(backendEnvironment: Self.backendEnvironment) { port, backends async throws in
      let token = try await PreferenceCenterHarness.prepare(gateway: port, backends)
      try await PreferenceCenterHarness.run(gatewayPort: port) { base async throws in
        let button = try await curl("\(base)/u/\(token)")
        #expect(button.status == 200 && button.body.contains("name=\"List-Unsubscribe\" value=\"One-Click\""))
        let before = try await consent(backends) { try await $0.getConsentState(.with { $0.subjectID = Self.owner }).state }
        #expect(before.optInStatus != .optOutContact)

        let wrongBody = try await curl("\(base)/u/\(token)", method: "POST", form: "List-Unsubscribe=Maybe")
        #expect(wrongBody.status == 400)
        let done = try await curl("\(base)/u/\(token)", method: "POST", form: "List-Unsubscribe=One-Click")
        #expect(done.status == 200 && done.body.contains("You are unsubscribed"))
        try await consent(backends) { consent async throws in
          let state = try await consent.getConsentState(.with { $0.subjectID = Self.owner }).state
          #expect(state.optInStatus == .optOutContact)
          let event = try #require(try await consent.listConsentEvents(.with { $0.subjectID = Self.owner }).events.last)
          #expect(event.kind == .optInStatusChanged && event.evidence.channel == .emailLink)
        }
        let unknown = try await curl("\(base)/u/\(SecureToken.generate())", method: "POST", form: "List-Unsubscribe=One-Click")
        #expect(unknown.status == 404)
      }
    }
  }

  @Test("Global Privacy Control shows tracking and sharing as objected to, and saving records the objection with the signal")
  func globalPrivacyControl() async throws {
    let fixture = try GatewayFixture()
    try await fixture.run(backendEnvironment: Self.backendEnvironment) { port, backends async throws in
      let token = try await PreferenceCenterHarness.prepare(gateway: port, backends)
      try await PreferenceCenterHarness.run(gatewayPort: port) { base async throws in
        let page = try await curl("\(base)/p/\(token)", headers: ["Sec-GPC": "1"])
        #expect(page.body.contains("Global Privacy Control"))
        #expect(page.body.contains("name=\"purpose.analytics\" checked"))  // the objection box, ticked
        #expect(!page.body.contains("name=\"purpose.partners\" checked"))
        let csrf = try #require(page.hiddenField("csrf"))
        let saved = try await curl(
          "\(base)/p/\(token)/changes", method: "POST", headers: ["Sec-GPC": "1"],
          form: "csrf=\(csrf)&purpose.newsletter=on&purpose.analytics=on")
        #expect(saved.body.contains("Check your email"))
        let message = try await consent(backends) { consent async throws in
          try #require(try await consent.listOutbox(.with { $0.pageSize = 100 }).messages.first { $0.kind == .preferenceConfirmation })
        }
        let landing = try await curl(base + String(message.link.dropFirst("https://privacy.example.com".count)))
        _ = try await curl(
          "\(base)/confirm/preferences", method: "POST",
          form: "token=\(try #require(landing.hiddenField("token")))&csrf=\(try #require(landing.hiddenField("csrf")))")
        try await consent(backends) { consent async throws in
          let state = try await consent.getConsentState(.with { $0.subjectID = Self.owner }).state
          #expect(state.purposes.first { $0.purposeID == "analytics" }?.decision == .denied)
          #expect(state.purposes.first { $0.purposeID == "partners" }?.decision == .denied)
          let events = try await consent.listConsentEvents(.with { $0.subjectID = Self.owner }).events
          #expect(events.last { $0.purposeID == "analytics" }?.evidence.formName == "preference-page (Sec-GPC: 1)")
        }
      }
    }
  }

  @Test("too many requests for one link get a clear page and Retry-After; link tokens never reach the log")
  func rateLimitAndLogs() async throws {
    let fixture = try GatewayFixture()
    try await fixture.run(backendEnvironment: Self.backendEnvironment) { port, backends async throws in
      let token = try await PreferenceCenterHarness.prepare(gateway: port, backends)
      let recorder = LogRecorder()
      try await PreferenceCenterHarness.run(gatewayPort: port, logger: recorder.logger()) { base async throws in
        _ = try await curl("\(base)/u/\(token)", method: "POST", form: "List-Unsubscribe=One-Click")
        var statuses: [Int] = []
        for _ in 0..<31 { statuses.append(try await curl("\(base)/u/\(token)").status) }
        #expect(statuses.filter { $0 == 200 }.count == 29)
        let limited = try await curl("\(base)/u/\(token)")
        #expect(limited.status == 429 && limited.headers["retry-after"] == "60" && limited.body.contains("Too many requests"))
      }
      #expect(!recorder.all.isEmpty)
      for entry in recorder.all {
        #expect(!entry.message.contains(token) && !entry.metadata.values.contains { $0.contains(token) })
      }
    }
  }

  @Test("with the gateway gone the page apologises within PREFERENCE_GATEWAY_TIMEOUT_MS and changes nothing")
  func gatewayDown() async throws {
    // Port 1: nothing listens there.
    try await PreferenceCenterHarness.run(gatewayPort: 1, extra: ["PREFERENCE_GATEWAY_TIMEOUT_MS": "2000"]) { base async throws in
      let reply = try await curl("\(base)/p/\(SecureToken.generate())")
      #expect(reply.status == 503 && reply.body.contains("Something went wrong"))
    }
  }

  @Test("each decision offers its signed receipt, which a stock JOSE library verifies with the served JWKS; another subject's event is not offered")
  func receipts() async throws {
    let fixture = try GatewayFixture()
    try await fixture.run(backendEnvironment: Self.backendEnvironment) { port, backends async throws in
      let token = try await PreferenceCenterHarness.prepare(gateway: port, backends)
      let (own, others) = try await consent(backends) { consent async throws in
        let own = try await consent.listConsentEvents(.with { $0.subjectID = Self.owner }).events
        let others = try await consent.listConsentEvents(.with { $0.subjectID = "c-2002" }).events
        return (try #require(own.last).sequence, try #require(others.last).sequence)
      }
      try await PreferenceCenterHarness.run(gatewayPort: port) { base async throws in
        let page = try await curl("\(base)/p/\(token)")
        #expect(page.body.contains("/p/\(token)/receipts/\(own)"))
        let receipt = try await curl("\(base)/p/\(token)/receipts/\(own)")
        #expect(receipt.status == 200 && receipt.headers["content-type"] == "application/jose")
        #expect(receipt.headers["content-disposition"]?.contains("attachment") == true)
        let jwks = try await curl("\(base)/.well-known/jwks.json")
        #expect(jwks.status == 200)
        let checked = try await verifyWithJWCrypto(jws: receipt.body, jwks: jwks.body)
        #expect(checked.contains("\"subject\":\"\(Self.owner)\"") && checked.contains("\"decision\":\"granted\""), "\(checked)")

        let foreign = try await curl("\(base)/p/\(token)/receipts/\(others)")
        #expect(foreign.status == 404 && foreign.body.contains("This link does not open a page"))
      }
    }
  }

  /// Python's jwcrypto checks the receipt against the JWKS and prints its payload.
  private func verifyWithJWCrypto(jws: String, jwks: String) async throws -> String {
    let script = """
      import sys
      from jwcrypto import jwk, jws
      keys = jwk.JWKSet.from_json(sys.argv[2])
      token = jws.JWS()
      token.deserialize(sys.argv[1])
      token.verify(keys.get_key(token.jose_header["kid"]), alg="EdDSA")
      print(token.payload.decode())
      """
    return try await runProcess(["python3", "-c", script, jws, jwks])
  }

  @Test("the page asks only the purposes whose ask_when holds for the subject's attributes, and always shows decided ones")
  func askWhen() async throws {
    let fixture = try GatewayFixture()
    try await fixture.run(backendEnvironment: Self.backendEnvironment) { port, backends async throws in
      let token = try await PreferenceCenterHarness.prepare(gateway: port, backends)
      try await consent(backends) { consent async throws in
        var scoring = WorkflowData.purpose("scoring", .automatedDecisions, .consent)
        scoring.askWhen = #"stage == "ready_to_buy""#
        var newsletter = WorkflowData.purpose("newsletter", .emailMarketing, .consent)
        newsletter.askWhen = #"region == "nowhere""#
        for purpose in [scoring, newsletter] { _ = try await consent.upsertPurpose(.with { $0.purpose = purpose }) }
      }
      try await PreferenceCenterHarness.run(gatewayPort: port) { base async throws in
        let before = try await curl("\(base)/p/\(token)")
        #expect(!before.body.contains("id=\"purpose-scoring\""))
        #expect(before.body.contains("id=\"purpose-newsletter\""))  // decided: always shown
        let set = try await asRole("service", port: port) { client async throws in
          try await ConsentClient(wrapping: client).setSubjectAttributes(.with {
            $0.subjectID = Self.owner
            $0.attributes = ["stage": "ready_to_buy"]
          })
        }
        #expect(set.purposesToAsk.contains("scoring"))
        let after = try await curl("\(base)/p/\(token)")
        #expect(after.body.contains("id=\"purpose-scoring\""))
      }
    }
  }
}
