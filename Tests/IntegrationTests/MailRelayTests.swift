import Crypto
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import PrivacyCertificates
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Testing

/// The `mail-relay` executable between a running suite (its gateway, under the `service` key)
/// and a real SMTP server (aiosmtpd, `Tests/Mail/smtp_sink.py`): what arrives, when it is
/// acknowledged, what a refusal leaves behind, and a relay killed at the worst moment.
@Suite("Mail relay")
struct MailRelayTests {
  typealias Consent = Privacy_Consent_V1_ConsentService.Client<HTTP2ClientTransport.Posix>
  typealias Rights = Privacy_Rights_V1_SubjectRightsService.Client<HTTP2ClientTransport.Posix>

  @Test("a double opt-in mail arrives with its link, footer and unsubscribe headers, over plaintext and over STARTTLS with AUTH; acknowledged and wiped after the 250")
  func doubleOptIn() async throws {
    try await RunningSuite.with { suite in
      // Plaintext first.
      let plain = try await SMTPSink()
      let first = try await startDoubleOptIn(suite, subject: "mail-1", address: "ada@example.org")
      let italian = try await startDoubleOptIn(suite, subject: "mail-it", address: "anna@example.it", language: "it")
      try await withRelay(suite, smtp: ["SMTP_URL": "smtp://127.0.0.1:\(plain.port)"]) {
        let done = try await eventually(timeout: .seconds(20)) { try plain.messages().count == 2 }
        #expect(done)
      }
      let kept = try #require(try plain.messages().first { $0.to == ["ada@example.org"] })
      #expect(kept.from == "privacy@example.org" && kept.to == ["ada@example.org"] && !kept.tls)
      #expect(kept.subject == "Please confirm your email subscription")
      #expect(kept.fromHeader == "Privacy Team <privacy@example.org>")
      #expect(kept.messageID == "<consent.\(first.messageID)@example.org>")
      #expect(kept.listUnsubscribe == first.listUnsubscribe && kept.listUnsubscribe?.hasPrefix("<https://privacy.example.com/u/") == true)
      #expect(kept.listUnsubscribePost == "List-Unsubscribe=One-Click")
      // Python's email package keeps the wire's CRLF line ends.
      let text = try #require(kept.text).replacingOccurrences(of: "\r\n", with: "\n")
      let link = try #require(text.split(separator: "\n").first { $0.hasPrefix("https://privacy.example.com/confirm/double-opt-in?token=") })
      #expect(text == first.body && text.hasSuffix("-- \nYour privacy preferences: \(first.preferenceURL)"))
      let html = try #require(kept.html)
      #expect(html.contains("<a href=\"\(link)\">\(link)</a>") && html.contains("<a href=\"\(first.preferenceURL)\">Your privacy preferences</a>"))
      #expect(kept.sevenBit == true)
      let sent = try #require(try await outbox(suite, includeAcked: true).first { $0.messageID == first.messageID })
      #expect(sent.hasAckedAt && sent.emailAddress.isEmpty && sent.body.isEmpty && sent.link.isEmpty && sent.delivery.attempts == 0)
      // In the person's language: the text as consent wrote it, the HTML's words and its language.
      let keptItalian = try #require(try plain.messages().first { $0.to == ["anna@example.it"] })
      #expect(keptItalian.subject == "Conferma la tua iscrizione alle nostre email" && keptItalian.headers?.contains("content-language") == true)
      #expect(keptItalian.text?.replacingOccurrences(of: "\r\n", with: "\n") == italian.body)
      #expect(keptItalian.html?.contains("<html lang=\"it\">") == true)
      #expect(keptItalian.html?.contains(">Le tue preferenze sulla privacy</a>") == true)

      // STARTTLS required, with AUTH, the server vouched for by a CA of its own.
      let directory = try TestDirectory()
      defer { directory.remove() }
      let ca = try CertificateAuthority(directory: directory.url, name: "smtp-ca")
      let certificate = try ca.server("smtp")
      let secured = try await SMTPSink(["--tls", certificate.certificateFile, certificate.keyFile, "--auth", "relay:s3cret"])
      try "s3cret\n".write(toFile: directory.path("smtp-password"), atomically: true, encoding: .utf8)
      let second = try await startDoubleOptIn(suite, subject: "mail-2", address: "bob@example.org")
      try await withRelay(suite, smtp: [
        "SMTP_URL": "smtp://127.0.0.1:\(secured.port)", "SMTP_REQUIRE_TLS": "1", "SMTP_CA_FILE": ca.certificateFile,
        "SMTP_USERNAME": "relay", "SMTP_PASSWORD_FILE": directory.path("smtp-password"),
      ]) {
        let done = try await eventually(timeout: .seconds(20)) { try secured.messages().count == 1 }
        #expect(done)
      }
      let securedKept = try #require(try secured.messages().first)
      #expect(securedKept.tls && securedKept.user == "relay" && securedKept.to == ["bob@example.org"])
      #expect(securedKept.messageID == "<consent.\(second.messageID)@example.org>")
    }
  }

  @Test("a 421 is retried after the backoff and the notice delivered once; a 550 fails it for good, its reply kept without the address")
  func transientAndPermanent() async throws {
    try await RunningSuite.with { suite in
      let retried = try await SMTPSink(["--reply", "421 4.3.2 try later"])
      let verification = try await startVerification(suite, subject: "mail-3", address: "cy@example.org")
      try await withRelay(suite, smtp: ["SMTP_URL": "smtp://127.0.0.1:\(retried.port)", "MAIL_RETRY_BASE_MS": "300"]) {
        let done = try await eventually(timeout: .seconds(20)) { try await rightsOutbox(suite, includeAcked: true).first?.hasAckedAt == true }
        #expect(done)
      }
      let kept = try retried.messages()
      #expect(kept.count == 1 && kept.first?.subject == "Please confirm your data protection request")
      #expect(kept.first?.messageID == "<rights.\(verification.messageID)@example.org>")
      #expect(kept.first?.listUnsubscribe == nil)
      #expect(kept.first?.text?.contains("Your privacy preferences: https://privacy.example.com/p/") == true)
      let delivered = try #require(try await rightsOutbox(suite, includeAcked: true).first)
      #expect(delivered.delivery.attempts == 1 && delivered.delivery.lastFailure == "end of DATA: 421 4.3.2 try later")

      let refusing = try await SMTPSink(["--reply", "550 5.1.1 <dee@example.org>: no such user"])
      let refused = try await startDoubleOptIn(suite, subject: "mail-4", address: "dee@example.org")
      try await withRelay(suite, smtp: ["SMTP_URL": "smtp://127.0.0.1:\(refusing.port)"]) {
        let done = try await eventually(timeout: .seconds(20)) { try await failedOutbox(suite).count == 1 }
        #expect(done)
      }
      #expect(try refusing.messages().isEmpty)
      let failed = try #require(try await failedOutbox(suite).first)
      #expect(failed.messageID == refused.messageID && failed.delivery.hasFailedAt && failed.delivery.attempts == 1)
      #expect(failed.delivery.lastFailure == "end of DATA: 550 5.1.1 [address] no such user")
      #expect(failed.emailAddress.isEmpty && failed.body.isEmpty && failed.link.isEmpty && failed.preferenceURL.isEmpty)
      #expect(try await outbox(suite, includeAcked: false).isEmpty)

      // privacyctl shows it to whoever runs the relay; the delivered notice is not a failure.
      let listed = try await runPrivacyCtl(
        ["outbox", "list", "--failed"],
        environment: [
          "PRIVACY_GATEWAY_ADDR": suite.gatewayAddress.description, "PRIVACY_CA_FILE": suite.caFile,
          "PRIVACY_API_KEY": RunningSuite.apiKey("service"),
        ], directory: suite.directory)
      #expect(listed.status == 0, "\(listed)")
      let row = try #require(listed.standardOutput.split(separator: "\n").first { $0.contains(refused.messageID) })
      #expect(row.hasPrefix("consent") && row.contains("DOUBLE_OPT_IN") && row.contains("failed ") && row.contains("[address] no such user"))
      #expect(!listed.standardOutput.contains("@") && !listed.standardOutput.contains(verification.messageID))
    }
  }

  @Test("a relay killed after the server took the message and before the acknowledgement: sent again with the same Message-ID, never after the acknowledgement")
  func killedBeforeAcknowledgement() async throws {
    try await RunningSuite.with { suite in
      // The server keeps the first message, then holds its 250 back; the relay is killed meanwhile.
      let sink = try await SMTPSink(["--hold-first", "60"])
      let sent = try await startDoubleOptIn(suite, subject: "mail-5", address: "eve@example.org")
      let timing = ["SMTP_URL": "smtp://127.0.0.1:\(sink.port)", "SMTP_TIMEOUT_MS": "5000", "NOTIFY_TIMEOUT_MS": "5000", "MAIL_LEASE_SECONDS": "6"]
      let first = try startRelay(suite, smtp: timing)
      let done = try await eventually(timeout: .seconds(20)) { try sink.messages().count == 1 }
        #expect(done)
      first.signal(SIGKILL)
      _ = try await first.waitForExit()
      #expect(try await outbox(suite, includeAcked: false).map(\.messageID) == [sent.messageID])

      try await withRelay(suite, smtp: timing) {
        let done = try await eventually(timeout: .seconds(30)) { try await outbox(suite, includeAcked: false).isEmpty }
        #expect(done)
        // Two more leases' worth: nothing goes out after the acknowledgement.
        try await Task.sleep(for: .seconds(8))
      }
      let kept = try sink.messages()
      #expect(kept.count == 2 && Set(kept.map(\.messageID)) == ["<consent.\(sent.messageID)@example.org>"])
      #expect(kept.map(\.text) == [kept[0].text, kept[0].text])
    }
  }

  @Test("art 19: an erasure tells its recipients by mail and by a signed webhook (a 503 retried) and a 404 fails one for good; the request waits, then the gateway completes it once every delivery is settled, and its step log says which")
  func recipientNotices() async throws {
    try await RunningSuite.with(gatewayEnvironment: ["GATEWAY_NOTICE_WAIT_MS": "1000", "GATEWAY_NOTICE_FOLLOW_UP_S": "1"]) { suite in
      let directory = try TestDirectory()
      defer { directory.remove() }
      let ca = try CertificateAuthority(directory: directory.url, name: "hooks-ca")
      let certificate = try ca.server("hooks")
      let hooks = try await WebhookSink(certificateFile: certificate.certificateFile, keyFile: certificate.keyFile, failFirst: 1)
      let mail = try await SMTPSink()
      let subject = "art19-1"
      let (secret, requestID) = try await suite.asRole("dpo") { client in
        let consent = Consent(wrapping: client)
        _ = try await consent.upsertPurpose(.with {
          $0.purpose = .with {
            $0.purposeID = "partners"
            $0.title = "Partners"
            $0.legalBasis = .consent
            $0.category = .thirdPartySharing
            $0.noticeVersion = "v1"
            $0.noticeText = "We share your data with our partners."
          }
        })
        _ = try await consent.recordConsent(.with {
          $0.subjectID = subject
          $0.purposeID = "partners"
          $0.decision = .granted
          $0.evidence = .with { $0.channel = .webform }
        })
        let rights = Rights(wrapping: client)
        let secret = try await rights.upsertRecipient(.with {
          $0.recipientID = "acme"
          $0.name = "ACME Ads"
          $0.contact = "privacy@acme.example"
          $0.purposeIds = ["partners"]
          $0.notifyEmail = "dpo@acme.example"
          $0.notifyURL = "https://127.0.0.1:\(hooks.port)/art19"
        }).webhookSecret
        _ = try await rights.upsertRecipient(.with {
          $0.recipientID = "gone"
          $0.name = "Gone Ltd"
          $0.contact = "nobody@gone.example"
          $0.purposeIds = ["partners"]
          $0.notifyURL = "https://127.0.0.1:\(hooks.port)/gone"
        })
        let requestID = try await rights.openRequest(.with {
          $0.subjectID = subject
          $0.right = .erasure
          $0.requesterEmail = "ann@example.org"
          $0.channel = .phone
        }).request.requestID
        _ = try await rights.verifyManually(.with {
          $0.requestID = requestID
          $0.note = "caller known"
        })
        return (secret, requestID)
      }
      func execute() async throws -> Privacy_Gateway_V1_ExecuteRequestResponse {
        try await suite.asRole("dpo") { client in
          try await Privacy_Gateway_V1_AdminService.Client(wrapping: client).executeRequest(.with { $0.requestID = requestID })
        }
      }

      // No relay yet: the notices wait, and so does the request.
      let waiting = await capturedRPCError { try await execute() }
      #expect(waiting?.code == .unavailable && waiting?.message.contains("art 19 notice(s) not delivered yet") == true, "\(String(describing: waiting))")
      let pending = try await suite.asRole("dpo") { client in try await Rights(wrapping: client).getRequest(.with { $0.requestID = requestID }).request }
      // (The follow-up may be looking at it again right now: the step is FAILED or RUNNING.)
      #expect(pending.status == .inProgress && pending.steps.last?.name == "recipients_notified" && pending.steps.last?.status != .done)

      // With the relay, nobody calls ExecuteRequest again: the gateway's follow-up completes the
      // request once every notice is delivered or failed for good.
      func current() async throws -> Privacy_Rights_V1_DataSubjectRequest {
        try await suite.asRole("dpo") { client in try await Rights(wrapping: client).getRequest(.with { $0.requestID = requestID }).request }
      }
      try await withRelay(suite, smtp: [
        "SMTP_URL": "smtp://127.0.0.1:\(mail.port)", "NOTIFY_CA_FILE": ca.certificateFile, "MAIL_RETRY_BASE_MS": "200",
      ]) {
        let done = try await eventually(timeout: .seconds(40)) { try await current().status == .completed }
        #expect(done)
      }
      let request = try await current()
      let step = try #require(request.steps.first { $0.name == "recipients_notified" })
      #expect(step.status == .done)
      let detail = try #require(try JSONSerialization.jsonObject(with: Data(step.detail.utf8)) as? [String: Any])
      let deliveries = try #require(detail["deliveries"] as? [[String: String]])
      #expect(deliveries.map { [$0["recipient_id"]!, $0["channel"]!, $0["state"]!] } == [
        ["acme", "EMAIL", "DELIVERED"], ["acme", "WEBHOOK", "DELIVERED"], ["gone", "WEBHOOK", "FAILED"],
      ])
      #expect(deliveries[2]["last_failure"] == "webhook: HTTP 404")
      let followed = try await suite.asRole("auditor") { client in
        try await Privacy_Gateway_V1_AdminService.Client(wrapping: client).listAudit(.with {
          $0.method = "privacy.gateway.v1.AdminService/ExecuteRequest"
        }).entries
      }
      #expect(followed.contains { $0.actor == "gateway" && $0.role == "notice-follow-up" && $0.subjectID == subject && $0.statusCode == 0 })
      #expect(request.recipientsNotified.map(\.recipientID) == ["acme"])

      // The endpoint: a 503, then the same notice again, signed with the secret shown once.
      let posts = try hooks.requests().filter { $0.path == "/art19" }
      #expect(posts.count == 2 && posts[0].body == posts[1].body && posts[0].noticeID == posts[1].noticeID)
      let body = try #require(posts.last?.body)
      let mac = HMAC<SHA256>.authenticationCode(for: Data(body.utf8), using: SymmetricKey(data: Data(secret.utf8)))
      #expect(posts.last?.signature == "sha256=" + mac.map { String(format: "%02x", $0) }.joined())
      #expect(posts.last?.contentType == "application/json")
      let notice = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
      #expect(notice["request_id"] as? String == requestID && notice["subject_id"] as? String == subject && notice["right"] as? String == "erasure")
      #expect(try hooks.requests().filter { $0.path == "/gone" }.count == 1)
      // The mail to the recipient's address (the requester's completion notice went out beside it).
      let kept = try mail.messages().filter { $0.to == ["dpo@acme.example"] }
      #expect(kept.count == 1)
      #expect(kept.first?.subject == "Art. 19 GDPR notice: request \(requestID)" && kept.first?.listUnsubscribe == nil)
    }
  }

  // MARK: Helpers

  /// The relay process against `suite`'s gateway with the service key.
  private func startRelay(_ suite: RunningSuite, smtp: [String: String]) throws -> RunningProcess {
    var environment = [
      "PRIVACY_GATEWAY_ADDR": suite.gatewayAddress.description, "PRIVACY_CA_FILE": suite.caFile,
      "MAIL_RELAY_API_KEY": RunningSuite.apiKey("service"), "MAIL_FROM": "Privacy Team <privacy@example.org>",
      "MAIL_POLL_INTERVAL_MS": "100", "SMTP_TIMEOUT_MS": "10000",
    ]
    environment.merge(smtp) { _, new in new }
    return try RunningProcess("mail-relay", environment: environment)
  }

  /// Runs a relay while `body` runs, then stops it with SIGTERM.
  private func withRelay(_ suite: RunningSuite, smtp: [String: String], _ body: () async throws -> Void) async throws {
    let relay = try startRelay(suite, smtp: smtp)
    do {
      try await body()
    } catch {
      relay.signal(SIGTERM)
      _ = try? await relay.waitForExit()
      throw error
    }
    relay.signal(SIGTERM)
    #expect(try await relay.waitForExit() == 0)
  }

  private func startDoubleOptIn(
    _ suite: RunningSuite, subject: String, address: String, language: String = ""
  ) async throws -> Privacy_Consent_V1_OutboxMessage {
    let id = try await suite.asRole("dpo") { client in
      try await Consent(wrapping: client).startDoubleOptIn(.with {
        $0.subjectID = subject
        $0.emailAddress = address
        $0.language = language
      }).messageID
    }
    return try #require(try await outbox(suite, includeAcked: false).first { $0.messageID == id })
  }

  private func startVerification(_ suite: RunningSuite, subject: String, address: String) async throws -> Privacy_Rights_V1_OutboxMessage {
    try await suite.asRole("dpo") { client in
      let rights = Rights(wrapping: client)
      let requestID = try await rights.openRequest(.with {
        $0.subjectID = subject
        $0.right = .access
        $0.requesterEmail = address
        $0.channel = .email
      }).request.requestID
      _ = try await rights.startVerification(.with { $0.requestID = requestID })
    }
    return try #require(try await rightsOutbox(suite, includeAcked: false).first)
  }

  private func outbox(_ suite: RunningSuite, includeAcked: Bool) async throws -> [Privacy_Consent_V1_OutboxMessage] {
    try await suite.asRole("service") { client in
      try await Consent(wrapping: client).listOutbox(.with { $0.includeAcked = includeAcked }).messages
    }
  }

  private func failedOutbox(_ suite: RunningSuite) async throws -> [Privacy_Consent_V1_OutboxMessage] {
    try await suite.asRole("service") { client in
      try await Consent(wrapping: client).listOutbox(.with { $0.failedOnly = true }).messages
    }
  }

  private func rightsOutbox(_ suite: RunningSuite, includeAcked: Bool) async throws -> [Privacy_Rights_V1_OutboxMessage] {
    try await suite.asRole("service") { client in
      try await Rights(wrapping: client).listOutbox(.with { $0.includeAcked = includeAcked }).messages
    }
  }
}
