import Foundation
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Testing

extension LaunchedSuites {
  @Suite("privacy-suite launcher")
  struct SuiteLauncherTests {
    /// How the test reaches a service of the suite: trusting the dev CA and, at a backend,
    /// presenting the gateway's certificate (the only client the backends accept).
    private func tls(_ name: String, data: String) throws -> ClientTLS {
      guard name != "gateway" else { return ClientTLS(caFile: "\(data)/tls/dev-ca.pem") }
      return ClientTLS(caFile: "\(data)/tls/dev-ca.pem", certificate: try ReloadingCertificate(
        certificateFile: "\(data)/tls/gateway-client.pem", keyFile: "\(data)/tls/gateway-client.key", interval: .seconds(60),
        certificateVariable: "test", keyVariable: "test"))
    }

    @Test("starts all five and the preference center over TLS and mutual TLS with generated secrets and certificates, restarts a child that dies, stops all on SIGINT")
    func launcher() async throws {
      let directory = try TestDirectory()
      defer { directory.remove() }
      let suite = try RunningProcess(
        "privacy-suite", arguments: ["--data-dir", directory.path("data"), "--ephemeral-ports"], environment: [:])
      var endpoints: [String: ServiceAddress] = [:]
      var processes: [String: Int32] = [:]
      var exports: [String: String] = [:]
      var page: String?
      var mail: String?
      while let line = await suite.nextLine(timeout: .seconds(60)), !line.hasPrefix("Press Ctrl-C") {
        if line.hasPrefix("preference center: https://") { page = String(line.dropFirst("preference center: ".count)) }
        if line.hasPrefix("mail: ") { mail = line }
        if line.hasPrefix("  export ") {
          for assignment in line.dropFirst("  export ".count).split(separator: " ") {
            let pair = assignment.split(separator: "=", maxSplits: 1).map(String.init)
            if pair.count == 2 { exports[pair[0]] = pair[1] }
          }
        }
        let parts = line.split(separator: " ", omittingEmptySubsequences: true)
        if parts.count == 5, parts[2] == "SERVING", let address = ServiceAddress(String(parts[1])), let pid = Int32(parts[4]) {
          endpoints[String(parts[0])] = address
          processes[String(parts[0])] = pid
        }
      }
      #expect(
        Set(endpoints.keys) == ["gateway", "consent-service", "vault-service", "subject-rights-service", "blocklist-service"],
        "launcher output: \(suite.standardOutput.suffix(2000)) \(suite.standardError.suffix(2000))")
      // No SMTP_URL: no relay, and the operator is told where the mail waits.
      #expect(mail == "mail: not sent (set SMTP_URL to deliver it); it waits in the outboxes: privacyctl outbox list")
      let data = directory.path("data")
      for (name, address) in endpoints {
        #expect(await HealthProbe.check(address, tls: try tls(name, data: data), timeout: .seconds(10)) == .serving, "\(name)")
        #expect(await HealthProbe.check(address, timeout: .seconds(10)) != .serving, "\(name) in plaintext")
      }
      // A backend refuses a client that trusts the CA but presents no certificate.
      let vault = try #require(endpoints["vault-service"])
      #expect(await HealthProbe.check(vault, tls: ClientTLS(caFile: "\(data)/tls/dev-ca.pem"), timeout: .seconds(10)) != .serving)
      #expect(exports["PRIVACY_CA_FILE"] == "\(data)/tls/dev-ca.pem")

      // The preference center answers over HTTPS with a certificate of the dev CA.
      let pageURL = try #require(page)
      let health = try RunningProcess(
        executable: URL(fileURLWithPath: "/usr/bin/curl"), arguments: ["-sf", "--cacert", "\(data)/tls/dev-ca.pem", "\(pageURL)/healthz"],
        environment: [:])
      #expect(try await health.waitForExit(timeout: .seconds(30)) == 0 && health.standardOutput == "ok\n", "\(health.standardError)")

      for secret in [
        "dev-internal-token", "dev-vault-master-key", "dev-blocklist-pepper", "tls/dev-ca.key", "tls/gateway-client.key", "tls/vault-service.key",
        "dev-preference-center.key",
      ] {
        let attributes = try FileManager.default.attributesOfItem(atPath: directory.path("data/\(secret)"))
        #expect((attributes[.posixPermissions] as? Int) == 0o600, "\(secret)")
      }

      // The dev API key printed once opens the gateway as the dpo; its keys file holds only a hash.
      let gateway = try #require(endpoints["gateway"])
      #expect(exports["PRIVACY_GATEWAY_ADDR"] == gateway.description)
      let apiKey = try #require(exports["PRIVACY_API_KEY"])
      let whoAmI = try await withGatewayClient(port: gateway.port, authorization: "Bearer \(apiKey)", security: try tls("gateway", data: data).transportSecurity()) { client in
        try await Privacy_Gateway_V1_AdminService.Client(wrapping: client).whoAmI(.init())
      }
      #expect(whoAmI.actor == "dev-admin" && whoAmI.role == "dpo")
      let secret = try #require(apiKey.split(separator: ".", maxSplits: 1).last.map(String.init))
      let files = try FileManager.default.contentsOfDirectory(atPath: directory.path("data")).map { directory.path("data/\($0)") }
      #expect(!filesContain(files, secret))

      // Kill the consent service hard; the launcher brings it back on the same port.
      let consent = try #require(endpoints["consent-service"])
      let pid = try #require(processes["consent-service"])
      kill(pid, SIGKILL)
      var back = false
      for _ in 0..<100 where !back {
        try await Task.sleep(for: .milliseconds(100))
        let health = await HealthProbe.check(consent, tls: try tls("consent-service", data: data), timeout: .milliseconds(300))
        back = kill(pid, 0) != 0 && health == .serving
      }
      #expect(back)

      suite.signal(SIGINT)
      #expect(try await suite.waitForExit() == 0)
      for (name, address) in endpoints {
        #expect(await HealthProbe.check(address, tls: try tls(name, data: data), timeout: .milliseconds(300)) != .serving)
      }
    }

    @Test("with SMTP_URL the launcher runs the mail relay: a double opt-in started with privacyctl arrives at the SMTP server")
    func mailRelay() async throws {
      let sink = try await SMTPSink()
      try await withLaunchedSuite(environment: { _ in ["SMTP_URL": "smtp://127.0.0.1:\(sink.port)", "MAIL_POLL_INTERVAL_MS": "100"] }) { suite in
        #expect(suite.announcement.contains("mail: delivered over SMTP to 127.0.0.1:\(sink.port) by the mail relay"))
        let started = try await suite.ctl("optin", "start-double", "--subject", "suite-mail", "--email", "ada@example.org")
        #expect(started.status == 0, "\(started)")
        let arrived = try await eventually(timeout: .seconds(30)) { try sink.messages().count == 1 }
        #expect(arrived)
        let kept = try #require(try sink.messages().first)
        #expect(kept.to == ["ada@example.org"] && kept.fromHeader == "\"Privacy suite (local run)\" <privacy@localhost>")
        #expect(kept.text?.contains("/confirm/double-opt-in?token=") == true)
        let listed = try await suite.ctl("outbox", "list", "--include-acked", apiKey: suite.mailerKey)
        #expect(listed.status == 0 && listed.standardOutput.contains("sent "), "\(listed)")
      }
    }
  }
}

