import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import PrivacyCertificates
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Testing

private typealias Consent = Privacy_Consent_V1_ConsentService.Client<HTTP2ClientTransport.Posix>
private typealias Vault = Privacy_Vault_V1_VaultService.Client<HTTP2ClientTransport.Posix>
private typealias Rights = Privacy_Rights_V1_SubjectRightsService.Client<HTTP2ClientTransport.Posix>
private typealias Blocklist = Privacy_Blocklist_V1_BlocklistService.Client<HTTP2ClientTransport.Posix>
private typealias Admin = Privacy_Gateway_V1_AdminService.Client<HTTP2ClientTransport.Posix>

extension LaunchedSuites {
  /// The preference center as a person meets it: headless Chromium driven by Python selenium
  /// (`Tests/Browser/preference_page.py`), against the real executables over TLS, with every
  /// outcome checked in the backends. Screenshots of each state go to the test's output folder
  /// (`PRIVACY_TEST_OUTPUT_DIR`, default `.build/test-output/preference-center`).
  @Suite("Preference center in a real browser")
  struct PreferenceCenterBrowserTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let subject = "c-browser-1"

    @Test("open the mailed link, change a list and a storage consent, confirm from the mail: the ledger says PREFERENCE_PAGE, the vault field is erased and locked; the keyboard reaches every control; stop processing: campaigns refused, replies allowed; erase my data: the record erased, the address blocklisted")
    func browser() async throws {
      let output = URL(fileURLWithPath: ProcessInfo.processInfo.environment["PRIVACY_TEST_OUTPUT_DIR"]
        ?? Self.repository.appendingPathComponent(".build/test-output/preference-center").path)
      try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
      try await RunningSuite.with { suite in
        try await seed(suite)
        let directory = try TestDirectory()
        defer { directory.remove() }
        let certificate = try CertificateAuthority(directory: directory, name: "page-ca").server("page")
        let keyFile = directory.path("preference-center-api.key")
        try RunningSuite.apiKey("preference-center").write(toFile: keyFile, atomically: true, encoding: .utf8)
        let page = try RunningProcess("preference-center", environment: [
          "PREFERENCE_HOST": "127.0.0.1", "PREFERENCE_PORT": "0", "PRIVACY_GATEWAY_ADDR": suite.gatewayAddress.description,
          "PRIVACY_CA_FILE": suite.caFile, "PREFERENCE_API_KEY_FILE": keyFile, "TLS_CERT_FILE": certificate.certificateFile,
          "TLS_KEY_FILE": certificate.keyFile, "LOG_LEVEL": "info",
        ])
        defer { page.signal(SIGTERM) }
        let base = "https://127.0.0.1:\(try await page.listeningAddress().port)"
        let driver = try BrowserDriver(spki: try await spkiHash(certificate.certificateFile), output: output)

        // The double opt-in mail carries the person's own page link.
        let mail = try #require(try await outbox(suite).first { $0.kind == .doubleOptIn })
        let mailed = try #require(URL(string: mail.preferenceURL))
        let pageURL = base + mailed.path
        let opened = try await driver.run("open", pageURL, shot: "1-preferences.png")
        #expect(opened["h1"] as? String == "Your privacy preferences")

        let saved = try await driver.run("save", pageURL, shot: "2-check-your-email.png", "--tick", "list.news", "--untick", "purpose.storage")
        #expect(saved["h1"] as? String == "Check your email")
        let before = try await events(suite)

        let confirmation = try #require(try await outbox(suite).first { $0.kind == .preferenceConfirmation })
        let link = try #require(URL(string: confirmation.link))
        let landing = base + link.path + "?" + (link.query ?? "")
        let shown = try await driver.run("open", landing, shot: "3-confirm.png")
        #expect(shown["h1"] as? String == "Confirm your changes")
        #expect(try await events(suite).count == before.count)  // opening the link confirms nothing
        let confirmed = try await driver.run("submit", landing, shot: "4-confirmed.png")
        #expect(confirmed["h1"] as? String == "Confirmed")

        let after = try await events(suite)
        let subscription = after.last { (event: Privacy_Consent_V1_ConsentEvent) -> Bool in event.listID == "news" }
        let subscribed = try #require(subscription)
        #expect(subscribed.evidence.channel == .preferencePage)
        #expect(subscribed.evidence.ipAddress == "127.0.0.1" && subscribed.evidence.userAgent.contains("Chrome"))
        let storage = after.last { (event: Privacy_Consent_V1_ConsentEvent) -> Bool in event.purposeID == "storage" }
        let withdrawn = try #require(storage)
        #expect(withdrawn.decision == .withdrawn && withdrawn.evidence.channel == .preferencePage)

        // The withdrawal's consequence: the gateway's reactor erases and locks the field.
        var phone: Privacy_Vault_V1_FieldValue?
        for _ in 0..<100 {
          phone = try await suite.asRole("dpo") { client async throws in
            try await Vault(wrapping: client).getRecord(.with { $0.subjectID = Self.subject }).record.fields.first { $0.name == "phone" }
          }
          if phone?.locked == true { break }
          try await Task.sleep(for: .milliseconds(100))
        }
        #expect(phone?.locked == true && phone?.value.isEmpty == true)

        let page2 = try await driver.run("open", pageURL, shot: "5-after.png")
        #expect((page2["text"] as? String)?.contains("Monthly news") == true)

        let keyboard = try await driver.run("keyboard", pageURL)
        let controls = try #require(keyboard["controls"] as? [String])
        let reached = Set(try #require(keyboard["reached"] as? [String]))
        #expect(controls.count > 5)
        #expect(controls.allSatisfy(reached.contains), "not reached by Tab: \(controls.filter { !reached.contains($0) })")

        try await stopAndResume(suite, driver, base: base, pageURL: pageURL)
        try await erase(suite, driver, base: base, pageURL: pageURL)
      }
    }

    /// Confirms the double opt-in from its mail (so campaigns may go out), stops processing from
    /// the page (campaigns refused, replies still allowed, the vault record restricted), then
    /// resumes it: an erasure waits for a lifted restriction (art 18(1)(c)).
    private func stopAndResume(_ suite: RunningSuite, _ driver: BrowserDriver, base: String, pageURL: String) async throws {
      let optIn = try #require(try await outbox(suite).first { $0.kind == .doubleOptIn })
      let optInLink = try #require(URL(string: optIn.link))
      let subscribed = try await driver.run("submit", base + optInLink.path + "?" + (optInLink.query ?? ""), shot: "6-subscribed.png")
      #expect(subscribed["h1"] as? String == "Confirmed")
      #expect(try await eligible(suite, .campaign))

      for (step, stopping) in [(7, true), (9, false)] {
        let asked = try await driver.run("press", pageURL, shot: "\(step)-\(stopping ? "stop" : "resume")-asked.png", "--button", "restriction-toggle")
        #expect(asked["h1"] as? String == "Check your email")
        let confirmation = try #require(try await outbox(suite).last { $0.kind == .preferenceConfirmation })
        let link = try #require(URL(string: confirmation.link))
        let confirmed = try await driver.run("submit", base + link.path + "?" + (link.query ?? ""), shot: "\(step + 1)-\(stopping ? "stopped" : "resumed").png")
        #expect(confirmed["h1"] as? String == "Confirmed")
        #expect(try await eligible(suite, .campaign) == !stopping)
        #expect(try await eligible(suite, .reply))
        let restricted = try await eventually {
          try await suite.asRole("dpo") { client async throws in
            try await Vault(wrapping: client).getRecord(.with { $0.subjectID = Self.subject }).record.restricted == stopping
          }
        }
        #expect(restricted, "the vault record follows the ledger's restriction")
      }
    }

    /// Asks for erasure on the page, verifies it from the mail, and has the DPO carry it out.
    private func erase(_ suite: RunningSuite, _ driver: BrowserDriver, base: String, pageURL: String) async throws {
      let asked = try await driver.run("press", pageURL, shot: "11-erasure-asked.png", "--button", "request-erasure")
      #expect(asked["h1"] as? String == "Your request")
      let verification = try #require(try await suite.asRole("service") { client async throws in
        try await Rights(wrapping: client).listOutbox(.with { $0.pageSize = 100 }).messages.last
      })
      #expect(verification.recipientEmail == "ada@example.org")
      let link = try #require(URL(string: verification.link))
      let verified = try await driver.run("submit", base + link.path + "?" + (link.query ?? ""), shot: "12-erasure-verified.png")
      #expect(verified["h1"] as? String == "Thank you")
      let shown = try await driver.run("open", pageURL, shot: "13-request-shown.png")
      #expect((shown["text"] as? String)?.contains("Erasure of your data") == true)

      let executed = try await suite.asRole("dpo") { client async throws in
        try await Admin(wrapping: client).executeRequest(.with { $0.requestID = verification.requestID })
      }
      #expect(executed.status == .completed)
      let record = try await suite.asRole("dpo") { client async throws in
        try await Vault(wrapping: client).getRecord(.with { $0.subjectID = Self.subject }).record
      }
      #expect(record.erased)
      let blocked = try await suite.asRole("service") { client async throws in
        try await Blocklist(wrapping: client).check(.with { $0.identifiers = [.with { $0.kind = .email; $0.value = "ada@example.org" }] })
      }
      #expect(blocked.anyMatched)
      // Erasure closed the person's links: the page no longer opens.
      let closed = try await driver.run("open", pageURL, shot: "14-after-erasure.png")
      #expect(closed["h1"] as? String == "This link does not open a page")
    }

    private func eligible(_ suite: RunningSuite, _ kind: Privacy_Consent_V1_MessageKind) async throws -> Bool {
      try await suite.asRole("service") { client async throws in
        try await Consent(wrapping: client).checkEmailEligibility(.with {
          $0.subjectID = Self.subject
          $0.messageKind = kind
          $0.policy = .anyOptIn
        }).allowed
      }
    }

    /// A contact with an email address and a phone number whose storage rests on consent, a
    /// newsletter consent, a mailing list, and a double opt-in mail in the outbox.
    private func seed(_ suite: RunningSuite) async throws {
      try await suite.asRole("dpo") { client async throws in
        let vault = Vault(wrapping: client)
        _ = try await vault.upsertField(.with { $0.name = "email"; $0.classification = .personal; $0.tags = ["email"] })
        _ = try await vault.upsertField(.with { $0.name = "phone"; $0.classification = .personal; $0.tags = ["phone"] })
        let consent = Consent(wrapping: client)
        for (id, category, basis, fields) in [
          ("storage", Privacy_Consent_V1_PurposeCategory.dataStorage, Privacy_Consent_V1_LegalBasis.consent, ["phone"]),
          ("newsletter", .emailMarketing, .consent, []), ("analytics", .engagementTracking, .legitimateInterests, []),
        ] {
          _ = try await consent.upsertPurpose(.with {
            $0.purpose = .with {
              $0.purposeID = id
              $0.title = id.capitalized
              $0.legalBasis = basis
              $0.category = category
              $0.noticeVersion = "v1"
              $0.noticeText = "We use your data for \(id)."
              $0.vaultFields = fields
            }
          })
        }
      }
      try await suite.asRole("admin") { client async throws in
        _ = try await Consent(wrapping: client).upsertMailingList(.with { $0.list = .with { $0.listID = "news"; $0.name = "Monthly news" } })
      }
      try await suite.asRole("service") { client async throws in
        _ = try await Vault(wrapping: client).putRecord(.with {
          $0.subjectID = Self.subject
          $0.values = ["email": "ada@example.org", "phone": "+49 30 1234567"]
          $0.source = .with { $0.channel = .webform }
        })
        for purpose in ["storage", "newsletter"] {
          _ = try await Consent(wrapping: client).recordConsent(.with {
            $0.subjectID = Self.subject
            $0.purposeID = purpose
            $0.decision = .granted
            $0.evidence = .with { $0.channel = .webform }
          })
        }
      }
      try await suite.asRole("dpo") { client async throws in
        _ = try await Consent(wrapping: client).startDoubleOptIn(.with {
          $0.subjectID = Self.subject
          $0.emailAddress = "ada@example.org"
        })
      }
    }

    private func outbox(_ suite: RunningSuite) async throws -> [Privacy_Consent_V1_OutboxMessage] {
      try await suite.asRole("service") { client async throws in
        try await Consent(wrapping: client).listOutbox(.with { $0.pageSize = 100 }).messages
      }
    }

    private func events(_ suite: RunningSuite) async throws -> [Privacy_Consent_V1_ConsentEvent] {
      try await suite.asRole("dpo") { client async throws in
        try await Consent(wrapping: client).listConsentEvents(.with { $0.subjectID = Self.subject; $0.pageSize = 1000 }).events
      }
    }

    /// The base64 SHA-256 of the certificate's public key, which Chromium is told to trust.
    private func spkiHash(_ certificateFile: String) async throws -> String {
      let process = try RunningProcess(
        executable: URL(fileURLWithPath: "/bin/bash"),
        arguments: ["-c", "openssl x509 -in \"$0\" -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64", certificateFile],
        environment: ProcessInfo.processInfo.environment)
      #expect(try await process.waitForExit(timeout: .seconds(20)) == 0)
      return process.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
    }
  }
}

/// Runs `Tests/Browser/preference_page.py`: one browser action per run, its JSON answer back.
struct BrowserDriver {
  let spki: String
  let output: URL

  func run(_ command: String, _ url: String, shot: String? = nil, _ extra: String...) async throws -> [String: Any] {
    let script = LaunchedSuites.PreferenceCenterBrowserTests.repository.appendingPathComponent("Tests/Browser/preference_page.py").path
    var arguments = [script, command, url]
    if let shot { arguments.append(output.appendingPathComponent(shot).path) }
    arguments += extra + ["--spki", spki]
    let process = try RunningProcess(
      executable: URL(fileURLWithPath: "/usr/bin/env"), arguments: ["python3"] + arguments, environment: ProcessInfo.processInfo.environment)
    let status = try await process.waitForExit(timeout: .seconds(90))
    guard status == 0, let object = try JSONSerialization.jsonObject(with: Data(process.standardOutput.utf8)) as? [String: Any] else {
      throw BrowserFailed(command: command, status: status, errors: process.standardError)
    }
    return object
  }
}

struct BrowserFailed: Error, CustomStringConvertible {
  let command: String
  let status: Int32
  let errors: String
  var description: String { "browser \(command) failed (exit \(status)): \(errors.suffix(2000))" }
}
