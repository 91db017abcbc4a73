import Foundation
import GRPCCore
import PrivacyGateway
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Testing

/// The shipped `preference-center` role acts only for the subject of the link it carries.
@Suite("Preference links bind the preference-center role to one subject")
struct LinkBindingTests {
  static let owner = TestData.subject
  static let other = "c-2002"

  /// A client of the preference-center role carrying `token` (none when nil).
  private func asPage<T: Sendable>(port: Int, token: String?, _ body: (ConsentClient) async throws -> T) async throws -> T {
    try await asPageClient(port: port, token: token) { try await body(ConsentClient(wrapping: $0)) }
  }

  /// The same caller, for the subject-rights service.
  private func asPageRights<T: Sendable>(port: Int, token: String?, _ body: (RightsClient) async throws -> T) async throws -> T {
    try await asPageClient(port: port, token: token) { try await body(RightsClient(wrapping: $0)) }
  }

  private func asPageClient<T: Sendable>(port: Int, token: String?, _ body: (GRPCClient<Transport>) async throws -> T) async throws -> T {
    var metadata: Metadata = [:]
    if let token { metadata.addString(token, forKey: "x-preference-token") }
    return try await withGatewayClient(port: port, authorization: "Bearer \(apiKey("preference-center"))", metadata: metadata) {
      client async throws in try await body(client)
    }
  }

  private func prepare(_ port: Int, _ backends: [BackendKind: Int]) async throws -> String {
    try await PreferenceCenterHarness.prepare(gateway: port, backends)
  }

  @Test("a token for subject A reads and changes A, and nothing of B, whatever the request names")
  func boundToOneSubject() async throws {
    let fixture = try GatewayFixture()
    try await fixture.run { port, backends async throws in
      let token = try await prepare(port, backends)
      let othersToken = try await asRole("service", port: port) { client async throws in
        try await ConsentClient(wrapping: client).createPreferenceLink(.with { $0.subjectID = Self.other }).url
      }.split(separator: "/").last.map(String.init) ?? ""
      try await asPage(port: port, token: token) { page async throws in
        #expect(try await page.resolvePreferenceLink(.with { $0.token = token }).subjectID == Self.owner)
        let own = try await page.getConsentState(.with { $0.subjectID = Self.owner })
        #expect(own.state.purposes.first { $0.purposeID == "newsletter" }?.decision == .granted)
        #expect(try await page.listPurposes(.init()).purposes.count == WorkflowData.purposes.count)

        let refusals: [(String, () async throws -> Void)] = [
          ("another subject's state", { _ = try await page.getConsentState(.with { $0.subjectID = Self.other }) }),
          ("another subject's events", { _ = try await page.listConsentEvents(.with { $0.subjectID = Self.other }) }),
          ("every subject's events", { _ = try await page.listConsentEvents(.init()) }),
          ("another subject's opt-out", {
            _ = try await page.setEmailOptInStatus(.with {
              $0.subjectID = Self.other
              $0.status = .optOutContact
              $0.setBy = .contact
            })
          }),
          ("a change for another subject", {
            _ = try await page.requestPreferenceChange(.with {
              $0.subjectID = Self.other
              $0.changes = [.with { $0.consent = .with { $0.purposeID = "partners"; $0.decision = .granted } }]
            })
          }),
          ("another subject's links", { _ = try await page.revokePreferenceLinks(.with { $0.subjectID = Self.other }) }),
          ("a link for another subject", { _ = try await page.createPreferenceLink(.with { $0.subjectID = Self.other }) }),
          ("an opt-in without confirmation", {
            _ = try await page.setEmailOptInStatus(.with {
              $0.subjectID = Self.owner
              $0.status = .singleOptInWebform
              $0.setBy = .webform
            })
          }),
          ("another link's subject", { _ = try await page.resolvePreferenceLink(.with { $0.token = othersToken }) }),
          ("a method the role is not granted", { _ = try await page.checkConsent(.with { $0.subjectID = Self.owner; $0.purposeID = "newsletter" }) }),
        ]
        for (what, call) in refusals {
          let error = await capturedRPCError { try await call() }
          #expect(error?.code == .permissionDenied, "\(what): \(String(describing: error))")
        }
      }
      // Nothing of B changed: still granted, no pending confirmation, still mailable.
      try await withTestClient(port: backends[.consent]!) { client async throws in
        let consent = ConsentClient(wrapping: client)
        let state = try await consent.getConsentState(.with { $0.subjectID = Self.other }).state
        #expect(state.purposes.first { $0.purposeID == "newsletter" }?.decision == .granted)
        #expect(try await consent.listOutbox(.with { $0.pageSize = 100 }).messages.allSatisfy { $0.subjectID != Self.other })
        #expect(try await consent.listConsentEvents(.with { $0.subjectID = Self.other }).events.count == 1)
      }
    }
  }

  @Test("one-click opt-out takes effect at once; a change waits for the confirmation sent to the address on record")
  func changesForTheOwner() async throws {
    let fixture = try GatewayFixture()
    try await fixture.run { port, backends async throws in
      let token = try await prepare(port, backends)
      try await asPage(port: port, token: token) { page async throws in
        let requested = try await page.requestPreferenceChange(.with {
          $0.subjectID = Self.owner
          $0.emailAddress = "someone-who-got-the-forwarded-mail@example.net"
          $0.changes = [.with { $0.consent = .with { $0.purposeID = "partners"; $0.decision = .granted } }]
          $0.evidence = .with { $0.channel = .preferencePage }
        })
        #expect(!requested.messageID.isEmpty)
        let optOut = try await page.setEmailOptInStatus(.with {
          $0.subjectID = Self.owner
          $0.status = .optOutContact
          $0.setBy = .contact
          $0.evidence = .with { $0.channel = .emailLink }
        })
        #expect(optOut.status == .optOutContact)
      }
      try await withTestClient(port: backends[.consent]!) { client async throws in
        let consent = ConsentClient(wrapping: client)
        let messages = try await consent.listOutbox(.with { $0.pageSize = 100 }).messages
        let message = try #require(messages.first { $0.kind == .preferenceConfirmation })
        #expect(message.subjectID == Self.owner && message.emailAddress == TestData.values["email"])
        let state = try await consent.getConsentState(.with { $0.subjectID = Self.owner }).state
        #expect(state.purposes.first { $0.purposeID == "partners" }?.decision == .unspecified)  // pending until confirmed
      }
    }
  }

  @Test("a link opens only its subject's own erasure, access and portability requests, verified at the address on record")
  func ownRequests() async throws {
    let fixture = try GatewayFixture()
    try await fixture.run { port, backends async throws in
      let token = try await prepare(port, backends)
      let (first, again) = try await asPageRights(port: port, token: token) { page async throws in
        let ask = Privacy_Rights_V1_OpenRequestRequest.with {
          $0.subjectID = Self.owner
          $0.right = .erasure
          $0.requesterEmail = "someone-who-got-the-forwarded-mail@example.net"
          $0.channel = .api
        }
        return (try await page.openRequest(ask), try await page.openRequest(ask))
      }
      // Opened as the subject's own, from the page, its verification mailed to the address on record.
      #expect(first.created && first.request.status == .verifying && first.request.origin == .dataSubject)
      #expect(first.request.channel == .preferencePage && first.request.requesterEmail == TestData.values["email"])
      // Asking again answers the open request with a fresh verification mail, not a second request.
      #expect(!again.created && again.request.requestID == first.request.requestID)

      try await asPageRights(port: port, token: token) { page async throws in
        let listed = try await page.listRequests(.with { $0.filter = .with { $0.subjectID = Self.owner } }).requests
        #expect(listed.map(\.requestID) == [first.request.requestID])
        let refusals: [(String, () async throws -> Void)] = [
          ("another subject's erasure", { _ = try await page.openRequest(.with { $0.subjectID = Self.other; $0.right = .erasure }) }),
          ("a right the page does not offer", {
            _ = try await page.openRequest(.with { $0.subjectID = Self.owner; $0.right = .rectification })
          }),
          ("a request of the controller's", {
            _ = try await page.openRequest(.with { $0.subjectID = Self.owner; $0.right = .access; $0.origin = .controller })
          }),
          ("every subject's requests", { _ = try await page.listRequests(.init()) }),
          ("another subject's requests", { _ = try await page.listRequests(.with { $0.filter = .with { $0.subjectID = Self.other } }) }),
          ("a request by id", { _ = try await page.getRequest(.with { $0.requestID = first.request.requestID }) }),
          ("starting a verification", { _ = try await page.startVerification(.with { $0.requestID = first.request.requestID }) }),
        ]
        for (what, call) in refusals {
          let error = await capturedRPCError { try await call() }
          #expect(error?.code == .permissionDenied, "\(what): \(String(describing: error))")
        }
      }

      // Two verification mails, the first superseded; the latest one's token verifies the request
      // through the page's key without any link (the token names its request).
      let messages = try await withTestClient(port: backends[.rights]!) { client async throws in
        try await RightsClient(wrapping: client).listOutbox(.with { $0.pageSize = 100 }).messages
      }
      #expect(messages.count == 2 && messages.allSatisfy { $0.recipientEmail == TestData.values["email"] })
      let latest = try #require(messages.last)
      let verified = try await asPageRights(port: port, token: nil) { page async throws in
        try await page.confirmVerification(.with {
          $0.requestID = latest.requestID
          $0.token = latest.token
        })
      }
      #expect(verified.request.status == .verified)
    }
  }

  @Test("no token, an unknown token or a revoked one opens nothing")
  func invalidTokens() async throws {
    let fixture = try GatewayFixture()
    try await fixture.run { port, backends async throws in
      let token = try await prepare(port, backends)
      let state = Privacy_Consent_V1_GetConsentStateRequest.with { $0.subjectID = Self.owner }
      let missing = await capturedRPCError { try await asPage(port: port, token: nil) { try await $0.getConsentState(state) } }
      #expect(missing?.code == .permissionDenied)
      let unknown = await capturedRPCError {
        try await asPage(port: port, token: SecureToken.generate()) { try await $0.getConsentState(state) }
      }
      #expect(unknown?.code == .notFound && unknown?.errorInfoReason == "PREFERENCE_LINK_INVALID")

      let revoked = try await asPage(port: port, token: token) { page async throws in
        try await page.revokePreferenceLinks(.with { $0.subjectID = Self.owner }).revoked
      }
      #expect(revoked == 1)
      let after = await capturedRPCError { try await asPage(port: port, token: token) { try await $0.getConsentState(state) } }
      #expect(after?.code == .notFound && after?.errorInfoReason == "PREFERENCE_LINK_INVALID")
    }
  }

  @Test("the refusals are audited under the page's key, naming the subject asked for")
  func audited() async throws {
    let fixture = try GatewayFixture()
    try await fixture.run { port, backends async throws in
      let token = try await prepare(port, backends)
      _ = await capturedRPCError {
        try await asPage(port: port, token: token) { try await $0.getConsentState(.with { $0.subjectID = Self.other }) }
      }
      let entries = try await asRole("dpo", port: port) { client async throws in
        try await AdminClient(wrapping: client).listAudit(.with { $0.subjectID = Self.other }).entries
      }
      let refused = try #require(entries.first { $0.method.hasSuffix("/GetConsentState") })
      #expect(refused.actor == "preference-center@test" && refused.statusCode == Int32(RPCError.Code.permissionDenied.rawValue))
    }
  }
}
