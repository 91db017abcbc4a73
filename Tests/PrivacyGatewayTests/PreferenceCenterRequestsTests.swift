import Foundation
import GRPCCore
import PrivacyGateway
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Testing

/// Sections 5-7 of the page: stopping processing, erasure and copies of one's data, each
/// confirmed at the address on record, over real HTTP against the real gateway and backends.
@Suite("Preference center: stop processing, erase and download from the page")
struct PreferenceCenterRequestsTests {
  static let owner = TestData.subject
  static let base = "https://privacy.example.com"

  private func consent<T: Sendable>(_ backends: [BackendKind: Int], _ body: (ConsentClient) async throws -> T) async throws -> T {
    try await withTestClient(port: backends[.consent]!) { client async throws in try await body(ConsentClient(wrapping: client)) }
  }

  private func rights<T: Sendable>(_ backends: [BackendKind: Int], _ body: (RightsClient) async throws -> T) async throws -> T {
    try await withTestClient(port: backends[.rights]!) { client async throws in try await body(RightsClient(wrapping: client)) }
  }

  /// A gateway and its backends seeded by `PreferenceCenterHarness.prepare`, the page in front of
  /// it, and the owner's link: `body` gets the page's base URL, the link's token, and the ports of
  /// the gateway and the backends.
  private func withPage(_ body: (_ page: String, _ token: String, _ gateway: Int, _ backends: [BackendKind: Int]) async throws -> Void) async throws {
    let fixture = try GatewayFixture()
    try await fixture.run(backendEnvironment: PreferenceCenterTests.backendEnvironment) { port, backends async throws in
      let token = try await PreferenceCenterHarness.prepare(gateway: port, backends)
      try await PreferenceCenterHarness.run(gatewayPort: port) { page async throws in try await body(page, token, port, backends) }
    }
  }

  /// Opens a mailed request link (verification, download) on the page: the page and its
  /// button's form, ready to post.
  private func linkForm(_ page: String, _ link: String) async throws -> (landing: HTTPReply, form: String) {
    let landing = try await curl(page + String(link.dropFirst(Self.base.count)))
    return (landing, ["request_id", "token", "csrf"].map { "\($0)=\(landing.hiddenField($0) ?? "")" }.joined(separator: "&"))
  }

  /// Follows the emailed preference confirmation as the person would: the link's button, posted.
  private func confirmPreferences(_ backends: [BackendKind: Int], page: String) async throws {
    let message = try await consent(backends) { consent async throws in
      try #require(try await consent.listOutbox(.with { $0.pageSize = 100 }).messages.last { $0.kind == .preferenceConfirmation })
    }
    let landing = try await curl(page + String(message.link.dropFirst(Self.base.count)))
    let form = "token=\(try #require(landing.hiddenField("token")))&csrf=\(try #require(landing.hiddenField("csrf")))"
    let confirmed = try await curl("\(page)/confirm/preferences", method: "POST", form: form)
    #expect(confirmed.status == 200 && confirmed.body.contains("Your changes are saved"))
  }

  @Test("stop processing waits for the emailed confirmation; then only REPLY mail is allowed and the vault record is restricted; resuming lifts both")
  func stopAndResume() async throws {
    try await withPage { page, token, port, backends async throws in
      func eligible(_ kind: Privacy_Consent_V1_MessageKind) async throws -> Bool {
        try await consent(backends) { consent async throws in
          try await consent.checkEmailEligibility(.with {
            $0.subjectID = Self.owner
            $0.messageKind = kind
            $0.policy = .anyOptIn
          }).allowed
        }
      }
      func vaultRestricted() async throws -> Bool {
        try await withTestClient(port: backends[.vault]!) { client async throws in
          try await VaultClient(wrapping: client).getRecord(.with { $0.subjectID = Self.owner }).record.restricted
        }
      }
      _ = try await consent(backends) { consent async throws in
        try await consent.setEmailOptInStatus(.with {
          $0.subjectID = Self.owner
          $0.status = .singleOptInUser
          $0.setBy = .user
          $0.evidence = .with { $0.channel = .manual }
        })
      }
      #expect(try await eligible(.campaign))
      let action = "/p/\(token)/restriction"
      for (restricted, status, button) in [(true, "Processing of your data is not stopped.", "Stop processing my data"),
                                           (false, "Processing of your data is stopped", "Resume processing of my data")] {
        let view = try await curl("\(page)/p/\(token)")
        #expect(view.body.contains(status) && view.body.contains(button))
        #expect(view.hiddenField("restricted", inFormTo: action) == "\(restricted)")
        let csrf = try #require(view.hiddenField("csrf", inFormTo: action))
        let asked = try await curl(page + action, method: "POST", form: "csrf=\(csrf)&restricted=\(restricted)")
        #expect(asked.status == 200 && asked.body.contains("Check your email"))
        #expect(try await vaultRestricted() == !restricted, "nothing changes before the confirmation")

        try await confirmPreferences(backends, page: page)
        let state = try await consent(backends) { try await $0.getConsentState(.with { $0.subjectID = Self.owner }).state }
        #expect(state.restricted == restricted)
        #expect(try await eligible(.campaign) == !restricted)
        #expect(try await eligible(.reply))
        // The gateway mirrors the ledger's restriction to the vault record.
        #expect(try await eventually { try await vaultRestricted() == restricted })
      }
      let event = try await consent(backends) { consent async throws in
        try #require(try await consent.listConsentEvents(.with { $0.subjectID = Self.owner }).events.last { $0.kind == .restrictionChanged })
      }
      #expect(event.evidence.channel == .preferencePage && event.reason == "asked for by the subject")
    }
  }

  @Test("erase my data: verified at the address on record through a button on the emailed link; the page shows the request's state and deadline; executed, the record is erased and the address blocklisted")
  func erasure() async throws {
    try await withPage { page, token, port, backends async throws in
      let action = "/p/\(token)/requests"
      let view = try await curl("\(page)/p/\(token)")
      #expect(view.body.contains("You have made no requests."))
      let csrf = try #require(view.hiddenField("csrf", inFormTo: action))
      let asked = try await curl(page + action, method: "POST", form: "csrf=\(csrf)&right=erasure")
      #expect(asked.status == 200 && asked.body.contains("We sent an email"))

      let message = try #require(try await rights(backends) { try await $0.listOutbox(.with { $0.pageSize = 100 }).messages.last })
      #expect(message.recipientEmail == TestData.values["email"])
      #expect(message.link.hasPrefix("\(Self.base)/requests/verify?request_id=\(message.requestID)&token="))
      // Like every mail, it ends with the person's own page link, which opens their page.
      let footer = try #require(message.body.components(separatedBy: "Your privacy preferences: ").last)
      #expect(footer.hasPrefix("\(Self.base)/p/"))
      #expect(try await curl(page + String(footer.dropFirst(Self.base.count))).body.contains("Erase my data"))
      // A caller cannot put a link of its own into the mail: the gateway mints the footer.
      _ = try await asRole("dpo", port: port) { client async throws in
        try await RightsClient(wrapping: client).extendDeadline(.with {
          $0.requestID = message.requestID
          $0.months = 1
          $0.reason = "many requests this month"
          $0.preferenceURL = "https://phishing.example/p/x"
        })
      }
      let extension_ = try #require(try await rights(backends) { try await $0.listOutbox(.with { $0.pageSize = 100 }).messages.last })
      #expect(extension_.kind == .deadlineExtended && !extension_.body.contains("phishing"))
      #expect(extension_.body.contains("Your privacy preferences: \(Self.base)/p/"))
      let pending = try await curl("\(page)/p/\(token)")
      let due = try await rights(backends) { try await $0.getRequest(.with { $0.requestID = message.requestID }).request.dueAt }
      #expect(pending.body.contains("Erasure of your data") && pending.body.contains("Waiting for you to confirm by email"))
      #expect(pending.body.contains("By \(due.date.ISO8601Format().prefix(10)) at the latest"))

      // The emailed link shows a button; only its POST verifies.
      let (landing, form) = try await linkForm(page, message.link)
      #expect(landing.status == 200 && landing.body.contains("Confirm your request"))
      #expect(try await rights(backends) { try await $0.getRequest(.with { $0.requestID = message.requestID }).request.status } == .verifying)
      let verified = try await curl("\(page)/requests/verify", method: "POST", form: form)
      #expect(verified.status == 200 && verified.body.contains("Your request is confirmed"))
      #expect(try await curl("\(page)/p/\(token)").body.contains("Confirmed; we are about to handle it"))
      let again = try await curl("\(page)/requests/verify", method: "POST", form: form)
      #expect(again.status == 410 && again.body.contains("cannot be used"))

      // The controller carries it out: the record erased, the address blocklisted, the link closed.
      let executed = try await asRole("dpo", port: port) { client async throws in
        try await AdminClient(wrapping: client).executeRequest(.with { $0.requestID = message.requestID })
      }
      #expect(executed.status == .completed)
      try await withTestClient(port: backends[.vault]!) { client async throws in
        #expect(try await VaultClient(wrapping: client).getRecord(.with { $0.subjectID = Self.owner }).record.erased)
      }
      // The erased person's completion notice has no page link left to give.
      let notice = try #require(try await rights(backends) { try await $0.listOutbox(.with { $0.pageSize = 100 }).messages.last })
      #expect(notice.kind == .completed && !notice.body.contains("Your privacy preferences"))
      try await withTestClient(port: backends[.blocklist]!) { client async throws in
        let check = try await BlocklistClient(wrapping: client).check(.with {
          $0.identifiers = [.with { $0.kind = .email; $0.value = TestData.values["email"] ?? "" }]
        })
        #expect(check.anyMatched)
      }
      #expect(try await curl("\(page)/p/\(token)").status == 404)
    }
  }

  @Test("access and portability are asked for like erasure; asking again sends a fresh link and opens nothing more")
  func copies() async throws {
    try await withPage { page, token, port, backends async throws in
      let action = "/p/\(token)/requests"
      let csrf = try #require(try await curl("\(page)/p/\(token)").hiddenField("csrf", inFormTo: action))
      for right in ["access", "portability", "access"] {
        let asked = try await curl(page + action, method: "POST", form: "csrf=\(csrf)&right=\(right)")
        #expect(asked.status == 200 && asked.body.contains("We sent an email"))
      }
      let requests = try await rights(backends) { try await $0.listRequests(.with { $0.filter = .with { $0.subjectID = Self.owner } }).requests }
      #expect(Set(requests.map(\.right)) == [.access, .portability] && requests.count == 2)
      #expect(requests.allSatisfy { $0.status == .verifying && $0.channel == .preferencePage })
      #expect(try await rights(backends) { try await $0.listOutbox(.with { $0.pageSize = 100 }).messages.count } == 3)
      let view = try await curl("\(page)/p/\(token)")
      #expect(view.body.contains("Copy of your data") && view.body.contains("Your data in a portable file"))
    }
  }

  @Test("download my data: once the access request is verified and done, the bundle comes once through the link mailed with the notice")
  func download() async throws {
    try await withPage { page, token, port, backends async throws in
      let action = "/p/\(token)/requests"
      let csrf = try #require(try await curl("\(page)/p/\(token)").hiddenField("csrf", inFormTo: action))
      #expect(try await curl(page + action, method: "POST", form: "csrf=\(csrf)&right=access").status == 200)
      let verification = try #require(try await rights(backends) { try await $0.listOutbox(.with { $0.pageSize = 100 }).messages.last })
      let verify = try await linkForm(page, verification.link).form
      #expect(try await curl("\(page)/requests/verify", method: "POST", form: verify).status == 200)
      let executed = try await asRole("dpo", port: port) { client async throws in
        try await AdminClient(wrapping: client).executeRequest(.with { $0.requestID = verification.requestID })
      }
      #expect(executed.status == .completed)

      let notice = try #require(try await rights(backends) { try await $0.listOutbox(.with { $0.pageSize = 100 }).messages.last })
      #expect(notice.kind == .completed && notice.recipientEmail == TestData.values["email"])
      #expect(notice.link.hasPrefix("\(Self.base)/requests/download?request_id=\(verification.requestID)&token="))
      #expect(try await curl("\(page)/p/\(token)").body.contains("We emailed you a link to download your data"))

      // The link shows a button; its POST downloads the bundle, once.
      let (button, form) = try await linkForm(page, notice.link)
      #expect(button.status == 200 && button.body.contains("Download your data"))
      let bundle = try await curl("\(page)/requests/download", method: "POST", form: form)
      #expect(bundle.status == 200 && bundle.headers["content-type"] == "application/zip")
      #expect(bundle.headers["content-disposition"]?.hasPrefix("attachment; filename=") == true && bundle.body.hasPrefix("PK"))
      let again = try await curl("\(page)/requests/download", method: "POST", form: form)
      #expect(again.status == 410 && again.body.contains("cannot be used"))
      #expect(try await curl("\(page)/p/\(token)").body.contains("Downloaded on"))

      // The download is audited as the page's, naming the fields the bundle revealed.
      let entries = try await asRole("dpo", port: port) { client async throws in
        try await AdminClient(wrapping: client).listAudit(.with { $0.actor = "preference-center@test" }).entries
      }
      let fetch = try #require(entries.first { $0.method.hasSuffix("/GetArtifact") && $0.statusCode == 0 })
      #expect(fetch.fieldsRevealed.contains("email"))
    }
  }

  @Test("a stale or forged form, a right the page does not offer, or a wrong verification token changes nothing")
  func refusals() async throws {
    try await withPage { page, token, port, backends async throws in
      let view = try await curl("\(page)/p/\(token)")
      let requests = try #require(view.hiddenField("csrf", inFormTo: "/p/\(token)/requests"))
      let restriction = try #require(view.hiddenField("csrf", inFormTo: "/p/\(token)/restriction"))
      let refused = [
        try await curl("\(page)/p/\(token)/requests", method: "POST", form: "csrf=\(requests)&right=rectification"),
        try await curl("\(page)/p/\(token)/requests", method: "POST", form: "csrf=\(requests)"),
        try await curl("\(page)/p/\(token)/requests", method: "POST", form: "csrf=\(restriction)&right=erasure"),
        try await curl("\(page)/p/\(token)/requests", method: "POST", form: "csrf=\(requests)&right=erasure&subject_id=c-2002"),
        try await curl("\(page)/p/\(token)/restriction", method: "POST", form: "csrf=\(restriction)&restricted=maybe"),
        try await curl("\(page)/p/\(token)/restriction", method: "POST", form: "csrf=\(requests)&restricted=true"),
        try await curl("\(page)/requests/verify", method: "POST", form: "request_id=r1&token=\(SecureToken.generate())&csrf=forged"),
      ]
      for reply in refused {
        #expect(reply.status == 400 && reply.body.contains("Nothing was changed"))
      }
      #expect(try await curl("\(page)/requests/verify").status == 404)
      #expect(try await curl("\(page)/requests/verify?request_id=r1&token=not%20a%20token").status == 404)

      // A wrong token for a real request: refused, and the request stays unverified.
      let asked = try await curl("\(page)/p/\(token)/requests", method: "POST", form: "csrf=\(requests)&right=erasure")
      #expect(asked.status == 200)
      let message = try #require(try await rights(backends) { try await $0.listOutbox(.with { $0.pageSize = 100 }).messages.last })
      let guess = SecureToken.generate()
      let form = try await linkForm(page, "\(Self.base)/requests/verify?request_id=\(message.requestID)&token=\(guess)").form
      let wrong = try await curl("\(page)/requests/verify", method: "POST", form: form)
      #expect(wrong.status == 410)
      let request = try await rights(backends) { try await $0.getRequest(.with { $0.requestID = message.requestID }).request }
      #expect(request.status == .verifying)
      #expect(try await consent(backends) { try await $0.listOutbox(.with { $0.pageSize = 100 }).messages.isEmpty })
    }
  }
}
