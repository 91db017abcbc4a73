import Foundation
import GRPCCore
import PrivacyGateway
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Testing

@Suite("Gateway server: authentication, authorization, forwarding, filtering, audit")
struct GatewayServerTests {
  private func audit(_ port: Int, _ configure: (inout Privacy_Gateway_V1_ListAuditRequest) -> Void = { _ in }) async throws -> [Privacy_Gateway_V1_AuditEntry] {
    try await asRole("dpo", port: port) { client async throws in
      try await AdminClient(wrapping: client).listAudit(.with { configure(&$0) }).entries
    }
  }

  @Test("without valid credentials every call is UNAUTHENTICATED with one message, and audited without an actor")
  func unauthenticated() async throws {
    let fixture = try GatewayFixture()
    try await fixture.run { port, _ async throws in
      for authorization in [nil, "Bearer dpo-key.wrong", "Bearer nobody.secret", "Basic eDp5"] as [String?] {
        try await withGatewayClient(port: port, authorization: authorization) { client async throws in
          let whoAmI = await capturedRPCError { try await AdminClient(wrapping: client).whoAmI(.init()) }
          let record = await capturedRPCError { try await VaultClient(wrapping: client).getRecord(.with { $0.subjectID = "c-1" }) }
          for error in [whoAmI, record] {
            #expect(error?.code == .unauthenticated)
            #expect(error?.message == "missing or invalid credentials")
          }
        }
      }
      let refused = try await audit(port) { $0.statusCode = 16 }
      #expect(refused.count == 8)
      #expect(refused.allSatisfy { $0.actor.isEmpty && $0.role.isEmpty && $0.statusMessage == "missing or invalid credentials" })
      #expect(Set(refused.map(\.method)) == ["privacy.gateway.v1.AdminService/WhoAmI", "privacy.vault.v1.VaultService/GetRecord"])
      #expect(refused.filter { $0.method.hasSuffix("GetRecord") }.allSatisfy { $0.subjectID == "c-1" })
    }
  }

  @Test("WhoAmI returns the caller's actor, role, methods and field levels")
  func whoAmI() async throws {
    let fixture = try GatewayFixture()
    try await fixture.run { port, _ async throws in
      let answer = try await asRole("billing", port: port) { client async throws in
        try await AdminClient(wrapping: client).whoAmI(.init())
      }
      #expect(answer.actor == "billing@test" && answer.role == "billing")
      #expect(answer.credentialKind == .apiKey && answer.credentialID == "billing-key" && !answer.hasCredentialExpiresAt)
      #expect(answer.methods.contains("privacy.vault.v1.VaultService/RevealField"))
      #expect(answer.fieldAccess.contains { $0.selectorKind == .tag && $0.selector == "billing" && $0.level == .reveal })
      #expect(answer.fieldAccess.contains { $0.selectorKind == .classification && $0.selector == "SENSITIVE" && $0.level == .masked })
      #expect(answer.fieldAccess.contains { $0.selectorKind == .specialCategory && $0.selector == "ANY" && $0.level == .none })
      #expect(!answer.canOverrideBlocklist)
    }
  }

  @Test("a method the role may not call is PERMISSION_DENIED before any backend is called")
  func permissionBeforeBackend() async throws {
    let fixture = try GatewayFixture()
    // The vault is down: a call that reached it would be UNAVAILABLE.
    try await fixture.run(down: [.vault]) { port, _ async throws in
      let denied = try await asRole("auditor", port: port) { client async throws in
        await capturedRPCError { try await VaultClient(wrapping: client).getRecord(.with { $0.subjectID = "c-1" }) }
      }
      #expect(denied?.code == .permissionDenied)
      #expect(denied?.message == "role auditor may not call privacy.vault.v1.VaultService/GetRecord")
      let workflow = try await asRole("marketing", port: port) { client async throws in
        await capturedRPCError { try await AdminClient(wrapping: client).executeRequest(.with { $0.requestID = "r-1" }) }
      }
      #expect(workflow?.code == .permissionDenied)
      let entries = try await audit(port) { $0.statusCode = 7 }
      #expect(entries.map(\.actor).sorted() == ["auditor@test", "marketing@test"])
    }
  }

  @Test("a backend that is down gives UNAVAILABLE within the deadline; the other backends keep serving")
  func backendDown() async throws {
    let fixture = try GatewayFixture()
    try await fixture.run(down: [.vault], gatewayEnvironment: ["GATEWAY_BACKEND_TIMEOUT_MS": "2000"]) { port, _ async throws in
      try await asRole("dpo", port: port) { client async throws in
        let start = ContinuousClock.now
        let error = await capturedRPCError { try await VaultClient(wrapping: client).getRecord(.with { $0.subjectID = "c-1" }) }
        #expect(error?.code == .unavailable)
        // Within the 2 s deadline, not a hang; the margin is for a machine loaded by the
        // parallel test run (5.3 s was seen on CI).
        #expect(ContinuousClock.now - start < .seconds(10))
        let answer = try await ConsentClient(wrapping: client).checkEmailEligibility(.with {
          $0.subjectID = "c-1"
          $0.messageKind = .reply
        })
        #expect(answer.allowed)
        let health = try await AdminClient(wrapping: client).getBackendHealth(.init()).backends
        #expect(health.map(\.name) == ["consent", "vault", "rights", "blocklist"])
        #expect(health.map(\.status) == [.serving, .unreachable, .serving, .serving])
        #expect(health[1].error.contains("UNAVAILABLE") && !health[1].hasLatency && health[0].hasLatency)
      }
    }
  }

  @Test("a backend that never answers is cut off at GATEWAY_BACKEND_TIMEOUT_MS")
  func backendTimeout() async throws {
    let fixture = try GatewayFixture()
    let blackhole = try Blackhole()
    defer { blackhole.close() }
    try await fixture.run(down: [.rights], gatewayEnvironment: ["GATEWAY_BACKEND_TIMEOUT_MS": "1500", "RIGHTS_SERVICE_ADDR": "127.0.0.1:\(blackhole.port)"]) {
      port, _ async throws in
      try await asRole("dpo", port: port) { client async throws in
        let start = ContinuousClock.now
        let error = await capturedRPCError {
          try await Privacy_Rights_V1_SubjectRightsService.Client(wrapping: client).getRequest(.with { $0.requestID = "r-1" })
        }
        let elapsed = ContinuousClock.now - start
        #expect(error?.code == .deadlineExceeded || error?.code == .unavailable, "\(String(describing: error))")
        #expect(elapsed >= .milliseconds(1400) && elapsed < .seconds(10), "\(elapsed)")
        // The caller's own shorter deadline wins.
        var options = CallOptions.defaults
        options.timeout = .milliseconds(200)
        let shortStart = ContinuousClock.now
        let short = await capturedRPCError {
          try await Privacy_Rights_V1_SubjectRightsService.Client(wrapping: client).getRequest(.with { $0.requestID = "r-1" }, options: options)
        }
        #expect(short?.code == .deadlineExceeded)
        // Not a hang; how soon depends on the machine's load (1.46 s was seen in a parallel run).
        #expect(ContinuousClock.now - shortStart < .seconds(5))
      }
    }
  }

  @Test("identity metadata a client sends is dropped: backends see the gateway's actor, role and request id")
  func identityOverwritten() async throws {
    let fixture = try GatewayFixture()
    try await fixture.run { port, backends async throws in
      try await TestData.seed(vaultPort: backends[.vault]!)
      let smuggled: Metadata = [
        "x-privacy-actor": "the-ceo", "x-privacy-role": "admin", "x-request-id": "chosen-id",
        "x-internal-token": "test-internal-token-0123456789",
      ]
      let requestID = try await withGatewayClient(port: port, authorization: "Bearer \(apiKey("billing"))", metadata: smuggled) {
        client async throws in
        try await VaultClient(wrapping: client).revealField(
          .with {
            $0.subjectID = TestData.subject
            $0.field = "iban"
            $0.reason = "refund of invoice 7"
          }, metadata: [:], options: .defaults
        ) { response async throws in
          #expect(try response.message.value == TestData.iban)
          return response.metadata[stringValues: MetadataKey.requestID].first(where: { _ in true }) ?? ""
        }
      }
      #expect(!requestID.isEmpty && requestID != "chosen-id")
      let log = try await withTestClient(port: backends[.vault]!) { client async throws in
        try await VaultClient(wrapping: client).listAccessLog(.with { $0.kinds = [.reveal] }).entries
      }
      #expect(log.count == 1)
      #expect(log.first?.actor == "billing@test" && log.first?.role == "billing" && log.first?.requestID == requestID)
      let entry = try #require(try await audit(port) { $0.requestID = requestID }.first)
      #expect(entry.actor == "billing@test" && entry.fieldsRevealed == ["iban"] && entry.reason == "refund of invoice 7")
      #expect(entry.subjectID == TestData.subject && entry.statusCode == 0)
    }
  }

  @Test("records are filtered per role: withheld, masked or as the vault returned them")
  func filtering() async throws {
    let fixture = try GatewayFixture()
    try await fixture.run { port, backends async throws in
      try await TestData.seed(vaultPort: backends[.vault]!)
      let request = Privacy_Vault_V1_GetRecordRequest.with { $0.subjectID = TestData.subject }
      let support = try await asRole("support", port: port) { client async throws in try await VaultClient(wrapping: client).getRecord(request) }
      #expect(support.record.field("name")?.value == "Ada Lovelace")
      #expect(support.record.field("iban")?.value == "****3000")
      #expect(support.record.field("diagnosis")?.value == Masking.full)
      #expect(support.withheldFields.isEmpty)

      let marketing = try await asRole("marketing", port: port) { client async throws in try await VaultClient(wrapping: client).getRecord(request) }
      #expect(marketing.record.fields.map(\.name).sorted() == ["email", "name", "segment"])
      #expect(marketing.withheldFields == ["diagnosis", "iban", "national_id"])

      let admin = try await asRole("admin", port: port) { client async throws in try await VaultClient(wrapping: client).getRecord(request) }
      #expect(admin.record.field("email")?.value == "a***@example.org" && admin.record.field("email")?.source.ipAddress == "")
      #expect(admin.record.field("name")?.value == Masking.full)
      #expect(admin.record.field("segment")?.value == "gold")
      #expect(admin.withheldFields == ["diagnosis", "iban", "national_id"])

      // Marketing may not search; billing may, but not by a field it may not see at all.
      let denied = try await asRole("marketing", port: port) { client async throws in
        await capturedRPCError { try await VaultClient(wrapping: client).findByField(.with { $0.field = "email"; $0.value = "ada@example.org" }) }
      }
      #expect(denied?.code == .permissionDenied)
      let search = try await asRole("billing", port: port) { client async throws in
        await capturedRPCError { try await VaultClient(wrapping: client).findByField(.with { $0.field = "diagnosis"; $0.value = TestData.diagnosis }) }
      }
      #expect(search?.code == .permissionDenied)
      let found = try await asRole("billing", port: port) { client async throws in
        try await VaultClient(wrapping: client).findByField(.with { $0.field = "email"; $0.value = "ADA@example.org" })
      }
      #expect(found.records.map(\.subjectID) == [TestData.subject])
      #expect(found.withheldFields == ["diagnosis"])
    }
  }

  @Test("RevealField needs REVEAL or CLEAR on the field; ExportRecord's clear fields are audited as revealed")
  func revealAndExport() async throws {
    let fixture = try GatewayFixture()
    try await fixture.run { port, backends async throws in
      try await TestData.seed(vaultPort: backends[.vault]!)
      func reveal(_ role: String, _ field: String) async throws -> Result<String, RPCError> {
        try await asRole(role, port: port) { client async throws in
          do {
            return .success(try await VaultClient(wrapping: client).revealField(.with {
              $0.subjectID = TestData.subject
              $0.field = field
              $0.reason = "test"
            }).value)
          } catch let error as RPCError {
            return .failure(error)
          }
        }
      }
      #expect(try await reveal("billing", "iban") == .success(TestData.iban))
      #expect(try await reveal("billing", "diagnosis").failureCode == .permissionDenied)
      #expect(try await reveal("billing", "national_id").failureCode == .permissionDenied)
      #expect(try await reveal("billing", "no_such_field").failureCode == .notFound)
      #expect(try await reveal("dpo", "diagnosis") == .success(TestData.diagnosis))
      #expect(try await reveal("support", "iban").failureCode == .permissionDenied)

      let exported = try await asRole("dpo", port: port) { client async throws in
        try await VaultClient(wrapping: client).exportRecord(.with { $0.subjectID = TestData.subject; $0.reason = "art 15 request" })
      }
      #expect(exported.record.field("name")?.value == "Ada Lovelace")
      #expect(exported.record.field("iban")?.value == "****3000" && exported.record.field("iban")?.masked == true)
      let entry = try #require(try await audit(port) { $0.method = "privacy.vault.v1.VaultService/ExportRecord" }.first)
      #expect(entry.fieldsRevealed == ["email", "name", "segment"] && entry.reason == "art 15 request")
      let vaultDenials = try await audit(port) { $0.method = "privacy.vault.v1.VaultService/*"; $0.statusCode = 7 }
      #expect(vaultDenials.count == 3)
    }
  }

  @Test("when the audit entry cannot be written the call fails UNAVAILABLE and returns nothing")
  func auditFailClosed() async throws {
    let fixture = try GatewayFixture()
    try await fixture.run { port, backends async throws in
      try await TestData.seed(vaultPort: backends[.vault]!)
      let before = try await audit(port).count
      try fixture.executeOnAudit("CREATE TRIGGER fail_audit BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'disk full'); END")
      try await asRole("billing", port: port) { client async throws in
        let reveal = await capturedRPCError {
          try await VaultClient(wrapping: client).revealField(.with { $0.subjectID = TestData.subject; $0.field = "iban"; $0.reason = "r" })
        }
        #expect(reveal?.code == .unavailable)
        #expect(reveal?.message.contains("audit log") == true)
        #expect(reveal?.message.contains("3000") == false)
        #expect(reveal?.errorInfoReason == "AUDIT_UNAVAILABLE")
        let whoAmI = await capturedRPCError { try await AdminClient(wrapping: client).whoAmI(.init()) }
        #expect(whoAmI?.code == .unavailable)
      }
      let refused = await capturedRPCError { try await withGatewayClient(port: port, authorization: nil) { try await AdminClient(wrapping: $0).whoAmI(.init()) } }
      #expect(refused?.code == .unavailable)
      try fixture.executeOnAudit("DROP TRIGGER fail_audit")
      let verification = try await asRole("auditor", port: port) { client async throws in
        try await AdminClient(wrapping: client).verifyAudit(.init()).verification
      }
      #expect(verification.valid && verification.entriesChecked == UInt64(before + 1))
    }
  }

  @Test("ListAudit pages newest first, scoped to its filters; VerifyAudit names an entry edited in the file")
  func auditListingAndTamper() async throws {
    let fixture = try GatewayFixture()
    try await fixture.run { port, _ async throws in
      try await asRole("support", port: port) { client async throws in
        for _ in 0..<5 { _ = try await AdminClient(wrapping: client).whoAmI(.init()) }
      }
      try await asRole("auditor", port: port) { client async throws in
        let admin = AdminClient(wrapping: client)
        var sequences: [UInt64] = []
        var token = ""
        repeat {
          let page = try await admin.listAudit(.with { $0.actor = "support@test"; $0.pageSize = 2; $0.pageToken = token })
          sequences += page.entries.map(\.sequence)
          token = page.nextPageToken
        } while !token.isEmpty
        #expect(sequences == [5, 4, 3, 2, 1])
        let first = try await admin.listAudit(.with { $0.actor = "support@test"; $0.pageSize = 2 })
        let reused = await capturedRPCError { try await admin.listAudit(.with { $0.pageSize = 2; $0.pageToken = first.nextPageToken }) }
        #expect(reused?.code == .invalidArgument)
        let bad: [Privacy_Gateway_V1_ListAuditRequest] = [
          .with { $0.pageSize = -1 }, .with { $0.pageToken = "garbage" }, .with { $0.statusCode = 17 }, .with { $0.method = "nonsense" },
          .with { $0.startTime = .init(seconds: 100); $0.endTime = .init(seconds: 50) },
        ]
        for request in bad {
          #expect(await capturedRPCError { try await admin.listAudit(request) }?.code == .invalidArgument)
        }
        let entry = try #require(first.entries.first)
        #expect(entry.hash.count == 64 && entry.prevHash.count == 64 && entry.method == "privacy.gateway.v1.AdminService/WhoAmI")
        #expect(try await admin.verifyAudit(.init()).verification.valid)
      }
      try fixture.executeOnAudit("""
        DROP TRIGGER audit_log_append_only_update;
        UPDATE audit_log SET status_code = 7 WHERE sequence = 3;
        """)
      let verification = try await asRole("auditor", port: port) { client async throws in
        try await AdminClient(wrapping: client).verifyAudit(.init()).verification
      }
      #expect(!verification.valid && verification.firstBrokenSequence == 3)
    }
  }

  @Test("WatchConsentEvents streams through the gateway and is audited once")
  func watchStreams() async throws {
    let fixture = try GatewayFixture()
    try await fixture.run { port, _ async throws in
      try await asRole("dpo", port: port) { client async throws in
        let consent = ConsentClient(wrapping: client)
        _ = try await consent.upsertPurpose(.with {
          $0.purpose = .with {
            $0.purposeID = "newsletter"; $0.title = "Newsletter"; $0.legalBasis = .consent; $0.category = .emailMarketing
            $0.noticeVersion = "v1"; $0.noticeText = "We send news."
          }
        })
        _ = try await consent.recordConsent(.with {
          $0.subjectID = "c-1"; $0.purposeID = "newsletter"; $0.decision = .granted; $0.evidence = .with { $0.channel = .api }
        })
        let events = try await consent.watchConsentEvents(.with { $0.afterSequence = 0 }) { response in
          var events: [Privacy_Consent_V1_ConsentEvent] = []
          for try await message in response.messages {
            events.append(message.event)
            if events.count == 1 {
              // A live event, recorded after the stream opened.
              _ = try await consent.recordConsent(.with {
                $0.subjectID = "c-2"; $0.purposeID = "newsletter"; $0.decision = .denied; $0.evidence = .with { $0.channel = .api }
              })
            }
            if events.count == 2 { break }
          }
          return events
        }
        #expect(events.map(\.subjectID) == ["c-1", "c-2"])
      }
      let entries = try await audit(port) { $0.method = "privacy.consent.v1.ConsentService/WatchConsentEvents" }
      #expect(entries.count == 1 && entries.first?.statusCode == 0)
      // A role without the method is refused before the stream opens.
      let denied = try await asRole("marketing", port: port) { client async throws in
        await capturedRPCError {
          try await ConsentClient(wrapping: client).watchConsentEvents(.init()) { response in
            for try await _ in response.messages {}
          }
        }
      }
      #expect(denied?.code == .permissionDenied)
    }
  }

  @Test("a workflow given bad input answers INVALID_ARGUMENT after authorization, audited")
  func workflowBadInput() async throws {
    let fixture = try GatewayFixture()
    try await fixture.run { port, _ async throws in
      let error = try await asRole("service", port: port) { client async throws in
        await capturedRPCError { try await AdminClient(wrapping: client).createContact(.with { $0.values = ["email": "x@example.org"] }) }
      }
      #expect(error?.code == .invalidArgument && error?.message == "source is required")
      let entry = try #require(try await audit(port) { $0.method = "privacy.gateway.v1.AdminService/CreateContact" }.first)
      #expect(entry.statusCode == 3 && entry.actor == "service@test")
    }
  }
}

extension Result where Failure == RPCError {
  var failureCode: RPCError.Code? {
    if case .failure(let error) = self { return error.code }
    return nil
  }
}

/// A TCP port that accepts connections into its backlog and never speaks: a hung backend.
final class Blackhole: Sendable {
  let port: Int
  private let fd: Int32

  init() throws {
    let (descriptor, port) = boundLoopbackSocket()
    guard listen(descriptor, 16) == 0 else { throw CocoaError(.fileWriteUnknown) }
    fd = descriptor
    self.port = port
  }

  func close() { _ = Glibc.close(fd) }
}
