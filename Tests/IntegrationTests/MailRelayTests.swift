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
      try await withRelay(suite, smtp: ["SMTP_URL": "smtp://127.0.0.1:\(plain.port)"]) {
        let done = try await eventually(timeout: .seconds(20)) { try plain.messages().count == 1 }
        #expect(done)
      }
      let kept = try #require(try plain.messages().first)
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
      let timing = ["SMTP_URL": "smtp://127.0.0.1:\(sink.port)", "SMTP_TIMEOUT_MS": "5000", "MAIL_LEASE_SECONDS": "6"]
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

  private func startDoubleOptIn(_ suite: RunningSuite, subject: String, address: String) async throws -> Privacy_Consent_V1_OutboxMessage {
    let id = try await suite.asRole("dpo") { client in
      try await Consent(wrapping: client).startDoubleOptIn(.with {
        $0.subjectID = subject
        $0.emailAddress = address
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
