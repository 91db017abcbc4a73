import Foundation
import PrivacyKit
import PrivacyTesting
import Testing

extension LaunchedSuites {
  /// The real `privacyctl` against a real `privacy-suite`. Each test starts one suite (five
  /// processes) and runs its scenarios against it in turn: starting suites is the expensive part,
  /// and the other suites' timing tests share the machine.
  @Suite("privacyctl", .serialized)
  struct PrivacyCtlTests {
    @Test("with the printed dev key (dpo): status, whoami, purposes, consent, opt-in, fields, records, reveal, audit, requests, blocklist")
    func everydayAdminWork() async throws {
      try await withLaunchedSuite { suite in
        try await statusAndWhoAmI(suite)
        try await consentAndRecords(suite)
        try await requestsAndBlocklist(suite)
      }
    }

    /// status lists the four backends SERVING; whoami names the dev key's actor and role.
    private func statusAndWhoAmI(_ suite: LaunchedSuite) async throws {
      let status = try await suite.ctl("status")
      #expect(status.status == 0, "\(status)")
      let lines = status.standardOutput.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true) }
      #expect(lines.first?.prefix(3) == ["BACKEND", "ADDRESS", "STATUS"])
      let serving = Set(lines.dropFirst().filter { $0.count >= 3 && $0[2] == "SERVING" }.map { String($0[0]) })
      #expect(serving == ["consent", "vault", "rights", "blocklist"], "\(status)")
      #expect(status.standardOutput.contains("\nconsent copy: "), "\(status)")

      let json = try await suite.ctl("status", "--output", "json")
      let backends = try #require(try json.json()["backends"] as? [[String: Any]])
      #expect(backends.compactMap { $0["status"] as? String } == Array(repeating: "SERVING_STATUS_SERVING", count: 4))
      #expect(try json.json()["consent_copy"] is [String: Any])

      let whoAmI = try await suite.ctl("whoami", "--output", "json")
      #expect(whoAmI.status == 0, "\(whoAmI)")
      let identity = try whoAmI.json()
      #expect(identity["actor"] as? String == "dev-admin")
      #expect(identity["role"] as? String == "dpo")
      #expect(identity["credential_id"] as? String == "dev-admin")
      let table = try await suite.ctl("whoami")
      #expect(table.standardOutput.contains("role:") && table.standardOutput.contains("dpo"))

      try suite.expectNoSecretIn([status, json, whoAmI, table])
    }

    /// Purposes, consent, opt-in, fields, records and reveal; then the audit log shows the reveal.
    private func consentAndRecords(_ suite: LaunchedSuite) async throws {
      var results: [CLIResult] = []
      func ok(_ arguments: String...) async throws -> CLIResult {
        let result = try await runPrivacyCtl(
          arguments, environment: suite.environment(apiKey: suite.devAPIKey ?? ""),
          directory: suite.directory)
        #expect(result.status == 0, "privacyctl \(arguments.joined(separator: " ")): \(result)")
        results.append(result)
        return result
      }

      // Purposes.
      let upsert = try await ok(
        "purposes", "upsert", "--purpose", "newsletter", "--title", "Newsletter", "--basis", "consent",
        "--category", "email-marketing", "--retention-days", "365", "--notice-version", "v1", "--notice-text", "We send news.")
      #expect(upsert.standardOutput.contains("created"))
      let purposes = try await ok("purposes", "list")
      let purposeRow = try #require(purposes.standardOutput.split(separator: "\n").first { $0.hasPrefix("newsletter") })
      #expect(purposeRow.contains("CONSENT") && purposeRow.contains("EMAIL_MARKETING") && purposeRow.contains("365 d"))

      // Consent: record, check, history, state.
      let recorded = try await ok(
        "consent", "record", "--subject", "cli-1", "--purpose", "newsletter", "--decision", "granted",
        "--channel", "webform", "--form-name", "signup", "--notice-version", "v1", "--output", "json")
      let event = try #require(try recorded.json()["event"] as? [String: Any])
      #expect(event["decision"] as? String == "DECISION_GRANTED")
      #expect(event["subject_id"] as? String == "cli-1")
      let onPaper = try await ok(
        "consent", "record", "--subject", "cli-3", "--purpose", "newsletter", "--decision", "denied", "--channel", "post",
        "--captured-at", "2026-01-15T10:00:00Z", "--output", "json")
      let paperEvidence = try #require((try onPaper.json()["event"] as? [String: Any])?["evidence"] as? [String: Any])
      #expect(paperEvidence["captured_at"] as? String == "2026-01-15T10:00:00Z")
      #expect(paperEvidence["channel"] as? String == "CHANNEL_POST")
      let check = try await ok("consent", "check", "--subject", "cli-1", "--purpose", "newsletter", "--output", "json")
      #expect(try check.json()["allowed"] as? Bool == true)
      // A personal link to the preference page, with its mail headers; then every link revoked.
      let pageLink = try await ok("consent", "link", "--subject", "cli-1", "--output", "json").json()
      #expect((pageLink["url"] as? String)?.contains("/p/") == true)
      #expect(pageLink["list_unsubscribe_post"] as? String == "List-Unsubscribe=One-Click")
      let revoked = try await ok("consent", "link", "--subject", "cli-1", "--revoke")
      #expect(revoked.standardOutput.contains("revoked:") && revoked.standardOutput.contains("1"))
      let denied = try await ok("consent", "check", "--subject", "cli-2", "--purpose", "newsletter")
      #expect(denied.standardOutput.contains("allowed:") && denied.standardOutput.contains("no"))
      let history = try await ok("consent", "history", "--subject", "cli-1")
      #expect(history.standardOutput.contains("CONSENT_DECISION") && history.standardOutput.contains("GRANTED"))
      let state = try await ok("consent", "state", "--subject", "cli-1")
      #expect(state.standardOutput.contains("newsletter"))

      // A bulk decision for subjects named on the command line and in a file, then for the
      // subjects chosen by their current decision.
      _ = try await ok(
        "purposes", "upsert", "--purpose", "partners", "--title", "Partner offers", "--basis", "consent", "--category", "third-party-sharing",
        "--notice-version", "v1", "--notice-text", "We pass your address to partners.")
      let idsFile = suite.directory.path("subjects.txt")
      try Data("cli-3\n\ncli-4\n".utf8).write(to: URL(fileURLWithPath: idsFile))
      let bulk = try await ok(
        "consent", "bulk", "--purpose", "partners", "--decision", "granted", "--reason", "paper forms returned signed",
        "--channel", "post", "--subject", "cli-2", "--subjects-file", idsFile)
      #expect(bulk.standardOutput.contains("3 subject(s)"), "\(bulk)")
      let bulkByDecision = try await ok(
        "consent", "bulk", "--purpose", "partners", "--decision", "withdrawn", "--reason", "partner contract ended",
        "--where-purpose", "partners", "--where-decision", "granted", "--output", "json")
      #expect(try bulkByDecision.json()["updated_count"] as? String == "3")  // uint64 is a JSON string
      let partners = try await ok("consent", "check", "--subject", "cli-4", "--purpose", "partners", "--output", "json")
      #expect(try partners.json()["reason"] as? String == "CONSENT_REASON_WITHDRAWN")

      // Opt-in: set a status, ask for eligibility, start double opt-in.
      let optIn = try await ok("optin", "set", "--subject", "cli-1", "--status", "single-opt-in-user", "--set-by", "user")
      #expect(optIn.standardOutput.contains("SINGLE_OPT_IN_USER"))
      let eligible = try await ok("optin", "eligibility", "--subject", "cli-1", "--policy", "any-opt-in", "--output", "json")
      #expect(try eligible.json()["allowed"] as? Bool == true)
      let double = try await ok("optin", "start-double", "--subject", "cli-1", "--email", "ada@example.org")
      #expect(double.standardOutput.contains("message:"))
      // The mailer (the printed service-role key) finds the confirmation link; the landing page
      // behind it confirms with the link's token. The dpo may do neither.
      let mailer = try #require(suite.mailerKey)
      let outbox = try await suite.ctl("optin", "outbox", "--output", "json", apiKey: mailer)
      #expect(outbox.status == 0, "\(outbox)")
      let messages = try #require(try outbox.json()["messages"] as? [[String: Any]])
      let link = try #require(messages.compactMap { $0["link"] as? String }.first { $0.contains("token=") })
      let token = try #require(link.split(separator: "=").last.map(String.init))
      #expect(try await suite.ctl("optin", "confirm", "--token", token).standardError.hasPrefix("error: PERMISSION_DENIED"))
      let confirmed = try await suite.ctl("optin", "confirm", "--token", token, apiKey: mailer)
      #expect(confirmed.status == 0 && confirmed.standardOutput.contains("DOUBLE_OPT_IN"), "\(confirmed)")
      let sent = try #require(messages.first { ($0["link"] as? String) == link }?["message_id"] as? String)
      let acked = try await suite.ctl("optin", "outbox", "ack", "--message", sent, apiKey: mailer)
      #expect(acked.status == 0 && acked.standardOutput.contains("1 message(s)"), "\(acked)")
      let pending = try await suite.ctl("optin", "outbox", "list", apiKey: mailer)
      #expect(pending.status == 0 && !pending.standardOutput.contains(sent), "\(pending)")

      // Fields (the dpo classifies personal data), then a record.
      _ = try await ok("fields", "upsert", "--field", "email", "--classification", "personal", "--mask", "email", "--searchable", "--tag", "email")
      _ = try await ok("fields", "upsert", "--field", "iban", "--classification", "sensitive", "--mask", "last4", "--tag", "billing")
      let fields = try await ok("fields", "list")
      #expect(fields.standardOutput.contains("iban") && fields.standardOutput.contains("SENSITIVE"))
      let put = try await ok("records", "put", "--subject", "cli-1", "--value", "email=ada@example.org", "--value", "iban=DE89370400440532013000")
      #expect(put.standardOutput.contains("created"))
      let record = try await ok("records", "get", "--subject", "cli-1")
      let emailRow = try #require(record.standardOutput.split(separator: "\n").first { $0.hasPrefix("email") })
      #expect(emailRow.contains("ada@example.org"))  // PERSONAL is CLEAR for the dpo
      #expect(!record.standardOutput.contains("DE89370400440532013000"))  // SENSITIVE only masked
      let recordJSON = try await ok("records", "get", "--subject", "cli-1", "--output", "json")
      let recordFields = try #require((try recordJSON.json()["record"] as? [String: Any])?["fields"] as? [[String: Any]])
      let iban = try #require(recordFields.first { $0["name"] as? String == "iban" })
      #expect(iban["masked"] as? Bool == true)

      // Reveal with a reason; the audit log shows who revealed what and why.
      let revealed = try await ok("records", "reveal", "--subject", "cli-1", "--field", "iban", "--reason", "refund of invoice 42")
      #expect(revealed.standardOutput.contains("DE89370400440532013000"))
      let audit = try await ok("audit", "list", "--method", "privacy.vault.v1.VaultService/RevealField", "--output", "json")
      let entries = try #require(try audit.json()["entries"] as? [[String: Any]])
      // Written ahead: the intent before the vault was called, then the outcome.
      #expect(entries.map { $0["phase"] as? String } == ["AUDIT_PHASE_OUTCOME", "AUDIT_PHASE_INTENT"])
      #expect(entries.first?["fields_revealed"] as? [String] == ["iban"])
      #expect(entries.first?["reason"] as? String == "refund of invoice 42")
      #expect(entries.first?["actor"] as? String == "dev-admin")
      let auditTable = try await ok("audit", "list", "--subject", "cli-1", "--outcome", "ok", "--page-size", "3")
      #expect(auditTable.standardOutput.hasPrefix("SEQ"))
      #expect(auditTable.standardOutput.contains("next page: --page-token"))
      let verified = try await ok("audit", "verify")
      #expect(verified.standardOutput.contains("valid:") && verified.standardOutput.contains("yes"))
      let checkpoints = suite.directory.path("checkpoints.json")
      let exported = try await ok("audit", "checkpoint", "export", "--out", checkpoints)
      #expect(exported.standardError.contains("checkpoint(s)"), "\(exported)")
      let againstCheckpoints = try await ok("audit", "verify", "--checkpoints", checkpoints)
      #expect(againstCheckpoints.standardOutput.contains("yes"), "\(againstCheckpoints)")
      let ledger = try await ok("consent", "verify", "--output", "json")
      #expect(try (ledger.json()["verification"] as? [String: Any])?["valid"] as? Bool == true, "\(ledger)")

      // Erase one field and lock it.
      let erased = try await ok("records", "erase", "--subject", "cli-1", "--field", "iban", "--lock", "--reason", "consent withdrawn")
      #expect(erased.standardOutput.contains("locked:"))

      try suite.expectNoSecretIn(results)
    }

    /// Requests open, list, verify, extend, get and execute (the access bundle saved to a file);
    /// blocklist check.
    private func requestsAndBlocklist(_ suite: LaunchedSuite) async throws {
      let opened = try await suite.ctl(
        "requests", "open", "--subject", "cli-9", "--right", "access", "--requester-email", "bo@example.org", "--output", "json")
      #expect(opened.status == 0, "\(opened)")
      let request = try #require(try opened.json()["request"] as? [String: Any])
      let requestID = try #require(request["request_id"] as? String)
      #expect(request["status"] as? String == "REQUEST_STATUS_RECEIVED")
      #expect(request["right"] as? String == "RIGHT_ACCESS")

      let list = try await suite.ctl("requests", "list", "--subject", "cli-9")
      #expect(list.status == 0, "\(list)")
      let row = try #require(list.standardOutput.split(separator: "\n").first { $0.hasPrefix(requestID) })
      #expect(row.contains("ACCESS") && row.contains("RECEIVED"))

      let verified = try await suite.ctl("requests", "verify", "manual", "--request", requestID, "--note", "passport seen at the desk")
      #expect(verified.status == 0, "\(verified)")
      #expect(verified.standardOutput.contains("VERIFIED"))
      // A second request is verified by the emailed token: the mailer (the printed service-role key)
      // finds the message, the requester's token confirms it, and the mailer marks it sent.
      let byEmail = try await suite.ctl(
        "requests", "open", "--subject", "cli-9", "--right", "portability", "--requester-email", "bo@example.org", "--output", "json")
      let emailRequestID = try #require((try byEmail.json()["request"] as? [String: Any])?["request_id"] as? String)
      let started = try await suite.ctl("requests", "verify", "start", "--request", emailRequestID)
      #expect(started.status == 0 && started.standardOutput.contains("token sent"), "\(started)")
      let mailer = try #require(suite.mailerKey)
      let outbox = try await suite.ctl("requests", "outbox", "--output", "json", apiKey: mailer)
      #expect(outbox.status == 0, "\(outbox)")
      let messages = try #require(try outbox.json()["messages"] as? [[String: Any]])
      let message = try #require(messages.first { $0["request_id"] as? String == emailRequestID })
      #expect(message["recipient_email"] as? String == "bo@example.org")
      let token = try #require(message["token"] as? String)
      let confirmed = try await suite.ctl("requests", "verify", "confirm", "--request", emailRequestID, "--token", token)
      #expect(confirmed.status == 0 && confirmed.standardOutput.contains("VERIFIED"), "\(confirmed)")
      let messageID = try #require(message["message_id"] as? String)
      let acked = try await suite.ctl("requests", "outbox", "ack", "--message", messageID, apiKey: mailer)
      #expect(acked.status == 0 && acked.standardOutput.contains("1 message(s)"), "\(acked)")
      let pending = try await suite.ctl("requests", "outbox", "list", apiKey: mailer)
      #expect(pending.status == 0 && !pending.standardOutput.contains(messageID), "\(pending)")

      let extended = try await suite.ctl("requests", "extend", "--request", requestID, "--months", "1", "--reason", "many systems")
      #expect(extended.status == 0, "\(extended)")
      #expect(extended.standardOutput.contains("+1 month(s): many systems"))
      let shown = try await suite.ctl("requests", "get", "--request", requestID, "--output", "json")
      #expect(try (shown.json()["request"] as? [String: Any])?["extensions"] as? [[String: Any]] != nil)

      // The deadlines report lists the open requests, most urgent first; the records of
      // processing come as CSV with one row per purpose.
      let deadlines = try await suite.ctl("report", "deadlines")
      #expect(deadlines.status == 0 && deadlines.standardOutput.contains(requestID) && deadlines.standardOutput.hasPrefix("REQUEST"), "\(deadlines)")
      let records = try await suite.ctl("report", "processing", "--format", "csv")
      #expect(records.status == 0 && records.standardOutput.hasPrefix("purpose_id,title,legal_basis"), "\(records)")
      let breach = try await suite.ctl("report", "breach", "--from", "2020-01-01T00:00:00Z", "--to", "2100-01-01T00:00:00Z", "--actor", "dev-admin")
      #expect(breach.status == 0 && breach.standardOutput.contains("subjects affected:") && breach.standardOutput.contains("article_33_3"), "\(breach)")

      // Executing the verified access request saves its bundle, a zip, to the file named.
      let bundle = suite.directory.path("access.zip")
      let execute = try await suite.ctl("requests", "execute", "--request", requestID, "--artifact-out", bundle)
      #expect(execute.status == 0, "\(execute)")
      #expect(execute.standardOutput.contains("COMPLETED"), "\(execute)")
      let zip = try #require(FileManager.default.contents(atPath: bundle))
      #expect(zip.starts(with: [0x50, 0x4B, 0x03, 0x04]))

      let clean = try await suite.ctl("blocklist", "check", "--email", "nobody@example.org", "--phone", "+49 30 1234567")
      #expect(clean.status == 0, "\(clean)")
      #expect(clean.standardOutput.contains("no match"))
      #expect(!clean.standardOutput.contains("nobody@example.org"))
      let cleanJSON = try await suite.ctl("blocklist", "check", "--email", "nobody@example.org", "--output", "json")
      #expect(try cleanJSON.json()["any_matched"] == nil)  // false is the proto3 default, left out

      // cli-1 (whose record holds an email) is erased; the address is then blocked, listed by hash
      // prefix only, and removed again on the person's wish.
      let erasure = try await suite.ctl(
        "requests", "open", "--subject", "cli-1", "--right", "erasure", "--requester-email", "ada@example.org", "--output", "json")
      let erasureID = try #require((try erasure.json()["request"] as? [String: Any])?["request_id"] as? String)
      #expect(try await suite.ctl("requests", "verify", "manual", "--request", erasureID, "--note", "signed letter").status == 0)
      let erased = try await suite.ctl("requests", "execute", "--request", erasureID)
      #expect(erased.status == 0 && erased.standardOutput.contains("COMPLETED"), "\(erased)")
      let blocked = try await suite.ctl("blocklist", "check", "--email", "Ada@Example.org")
      #expect(blocked.standardOutput.contains("blocked: a previously erased person"), "\(blocked)")
      let entries = try await suite.ctl("blocklist", "list", "--kind", "email", "--output", "json")
      let entry = try #require((try entries.json()["entries"] as? [[String: Any]])?.first)
      #expect(entry["request_id"] as? String == erasureID && (entry["hash_prefix"] as? String)?.count == 8)
      let removed = try await suite.ctl("blocklist", "remove", "--email", "ada@example.org", "--reason", "asked to hear from us again")
      #expect(removed.status == 0 && removed.standardOutput.contains("removed:") && removed.standardOutput.contains("1"), "\(removed)")
      let cleared = try await suite.ctl("blocklist", "check", "--email", "ada@example.org")
      #expect(cleared.standardOutput.contains("no match"), "\(cleared)")
      let history = try await suite.ctl("blocklist", "list", "--include-removed")
      #expect(history.standardOutput.contains("asked to hear from us again"), "\(history)")
      let blocklistOutputs = [blocked, entries, removed, cleared, history]
      #expect(blocklistOutputs.allSatisfy { !$0.standardOutput.lowercased().contains("ada@example.org") })

      try suite.expectNoSecretIn([opened, list, verified, byEmail, started, confirmed, acked, extended, shown, execute, clean, cleanJSON])
      try suite.expectNoSecretIn([erasure, erased] + blocklistOutputs)
    }

    @Test("failures: wrong key UNAUTHENTICATED, a method the role may not call PERMISSION_DENIED, usage errors exit 64")
    func failures() async throws {
      // Our own keys file: a dpo and an auditor, so a role without record access can be tried.
      let dpoSecret = SecureToken.generate()
      let auditorSecret = SecureToken.generate()
      let keys = """
        keys:
          - id: ops
            role: dpo
            actor: ops@example
            sha256: \(SecureToken.hash(dpoSecret))
          - id: audit
            role: auditor
            actor: auditor@example
            sha256: \(SecureToken.hash(auditorSecret))

        """
      try await withLaunchedSuite(environment: { directory in
        try Data(keys.utf8).write(to: URL(fileURLWithPath: directory.path("keys.yaml")))
        return ["GATEWAY_API_KEYS_FILE": directory.path("keys.yaml")]
      }) { suite in
        try await checkFailures(suite, dpoSecret: dpoSecret, auditorSecret: auditorSecret)
      }
    }

    private func checkFailures(_ suite: LaunchedSuite, dpoSecret: String, auditorSecret: String) async throws {
      let dpoKey = "ops.\(dpoSecret)"
      let auditor = "audit.\(auditorSecret)"
      #expect(suite.devAPIKey == nil)

      let wrongKey = try await suite.ctl("whoami", apiKey: "ops.not-the-secret")
      #expect(wrongKey.status == 1)
      #expect(wrongKey.standardError.hasPrefix("error: UNAUTHENTICATED: "), "\(wrongKey)")
      #expect(!wrongKey.standardError.contains("not-the-secret"))
      let noKey = try await runPrivacyCtl(["status"], environment: suite.environment(apiKey: nil), directory: suite.directory)
      #expect(noKey.status == 1)
      #expect(noKey.standardError.hasPrefix("error: UNAUTHENTICATED: "), "\(noKey)")

      let forbidden = try await suite.ctl("records", "get", "--subject", "cli-1", apiKey: auditor)
      #expect(forbidden.status == 1)
      #expect(forbidden.standardError.hasPrefix("error: PERMISSION_DENIED: "), "\(forbidden)")
      let allowed = try await suite.ctl("audit", "verify", "--output", "json", apiKey: auditor)
      #expect(allowed.status == 0, "\(allowed)")
      #expect(try (allowed.json()["verification"] as? [String: Any])?["valid"] as? Bool == true)
      // The refused call is in the audit log with its outcome.
      let refused = try await suite.ctl("audit", "list", "--actor", "auditor@example", "--outcome", "permission-denied", apiKey: dpoKey)
      #expect(refused.status == 0, "\(refused)")
      #expect(refused.standardOutput.contains("privacy.vault.v1.VaultService/GetRecord"))
      #expect(refused.standardOutput.contains("PERMISSION_DENIED"))

      // A backend's own error reaches the CLI as it is, with its ErrorInfo reason.
      let missing = try await suite.ctl("requests", "get", "--request", "00000000-0000-0000-0000-000000000000", apiKey: dpoKey)
      #expect(missing.status == 1)
      #expect(missing.standardError.hasPrefix("error: NOT_FOUND: "), "\(missing)")

      // A base64url token may begin with `-`: it is still the option's value, not a flag, and reaches
      // the server (NOT_FOUND / INVALID_ARGUMENT), not a usage error.
      let dashToken = try await suite.ctl(
        "requests", "verify", "confirm", "--request", "00000000-0000-0000-0000-000000000000", "--token", "-Ab9_x-Yz", apiKey: dpoKey)
      #expect(dashToken.standardError.hasPrefix("error: NOT_FOUND: "), "\(dashToken)")
      let dashPage = try await suite.ctl("audit", "list", "--page-token", "-Ab9_x-Yz", apiKey: dpoKey)
      #expect(dashPage.standardError.hasPrefix("error: INVALID_ARGUMENT: "), "\(dashPage)")

      // The --api-key flag overrides the environment.
      let flag = try await suite.ctl("whoami", "--api-key", dpoKey, "--output", "json", apiKey: auditor)
      #expect(try flag.json()["role"] as? String == "dpo")

      // Usage errors: ArgumentParser's exit code 64, nothing sent.
      for arguments in [
        ["consent", "check", "--subject", "cli-1"],
        ["purposes", "upsert", "--purpose", "p", "--title", "P", "--basis", "because", "--category", "custom"],
        ["records", "put", "--subject", "cli-1", "--value", "no-equals-sign"],
        ["records", "erase", "--subject", "cli-1", "--reason", "r"],
        ["status", "--gateway", "not-an-address"],
        ["whoami", "--api-key", "no-dot"],
        ["whoami", "--plaintext", "--ca-file", "ca.pem"],
        ["health", "--plaintext", "--ca-file", "ca.pem"],
        ["requests", "outbox", "ack"],
        ["consent", "bulk", "--purpose", "p", "--decision", "granted", "--reason", "r"],
        ["blocklist", "remove", "--reason", "r"],
        ["consent", "bulk", "--purpose", "p", "--decision", "granted", "--reason", "r", "--subject", "a", "--where-purpose", "p", "--where-decision", "granted"],
        ["nonsense"],
      ] {
        let usage = try await runPrivacyCtl(
          arguments, environment: suite.environment(apiKey: auditor), directory: suite.directory)
        #expect(usage.status == 64, "privacyctl \(arguments.joined(separator: " ")): \(usage)")
        #expect(usage.standardError.contains("Error:") || usage.standardError.contains("error:"))
      }

      // A malformed key in the environment is a usage error too, and is not echoed.
      let malformed = try await runPrivacyCtl(
        ["status"], environment: suite.environment(apiKey: "secret-without-id"),
        directory: suite.directory)
      #expect(malformed.status == 64, "\(malformed)")
      #expect(malformed.standardError.contains("PRIVACY_API_KEY") && !malformed.standardError.contains("secret-without-id"))

      // A gateway that is not there: UNAVAILABLE, exit 1, within the deadline.
      let down = try await runPrivacyCtl(
        ["status", "--gateway", "127.0.0.1:1", "--timeout", "3"], environment: ["PRIVACY_API_KEY": auditor], directory: suite.directory)
      #expect(down.status == 1)
      #expect(down.standardError.hasPrefix("error: UNAVAILABLE: "), "\(down)")

      for result in [wrongKey, noKey, forbidden, allowed, refused, flag, down] {
        #expect(!(result.standardOutput + result.standardError).contains(auditorSecret))
        #expect(!(result.standardOutput + result.standardError).contains(dpoSecret))
      }
    }
  }
}

extension LaunchedSuite {
  /// The dev key's secret appears in no output.
  func expectNoSecretIn(_ results: [CLIResult]) throws {
    let secret = try #require(devAPIKey?.split(separator: ".", maxSplits: 1).last.map(String.init))
    for result in results {
      #expect(!(result.standardOutput + result.standardError).contains(secret))
    }
  }
}
