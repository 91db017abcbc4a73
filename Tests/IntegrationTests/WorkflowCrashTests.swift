import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import PrivacyCertificates
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Testing
import ZIPFoundation

/// The four backends as real processes, and a gateway process in front of them that can be
/// started (with or without the crash hook) and killed, over the same databases; TLS on every
/// port and mutual TLS from the gateway (and the tests' direct backend calls) to the backends, as
/// deployed.
final class SuiteProcesses: Sendable {
  let directory: TestDirectory
  let backends: [String: RunningProcess]
  let ports: [String: Int]
  let keysPath: String
  /// Added to every process's environment.
  let environment: [String: String]
  let ca: CertificateAuthority
  private let server: CertificateAuthority.Issued
  /// The gateway's client certificate, which the backends admit.
  private let gatewayClient: CertificateAuthority.Issued

  static let backendExecutables = [
    "consent": ("consent-service", "CONSENT_SERVICE_ADDR"), "vault": ("vault-service", "VAULT_SERVICE_ADDR"),
    "rights": ("subject-rights-service", "RIGHTS_SERVICE_ADDR"), "blocklist": ("blocklist-service", "BLOCKLIST_SERVICE_ADDR"),
  ]

  init(environment: [String: String] = [:]) async throws {
    directory = try TestDirectory()
    self.environment = environment
    ca = try CertificateAuthority(directory: directory)
    server = try ca.server()
    gatewayClient = try ca.client(RunningSuite.gatewayIdentity)
    var backends: [String: RunningProcess] = [:]
    var ports: [String: Int] = [:]
    let backendTLS = [
      "TLS_CERT_FILE": server.certificateFile, "TLS_KEY_FILE": server.keyFile, "TLS_CLIENT_CA_FILE": ca.certificateFile,
      "TLS_ALLOWED_CLIENTS": RunningSuite.gatewayIdentity,
    ]
    for (name, (executable, _)) in Self.backendExecutables {
      let process = try RunningProcess(
        executable, environment: serviceEnvironment(directory, name, extra: environment.merging(backendTLS) { _, new in new }))
      backends[name] = process
      ports[name] = try await process.listeningAddress().port
    }
    self.backends = backends
    self.ports = ports
    keysPath = directory.path("keys.yaml")
    try """
      keys:
        - id: dpo-key
          role: dpo
          actor: dpo@test
          sha256: \(SecureToken.hash("secret-dpo"))
        - id: delivery-key
          role: delivery
          actor: delivery@test
          sha256: \(SecureToken.hash("secret-delivery"))

      """.write(toFile: keysPath, atomically: true, encoding: .utf8)
  }

  /// Starts the gateway; with `crashAfter` it exits right after recording that step DONE.
  func gateway(crashAfter step: String? = nil) async throws -> (RunningProcess, Int) {
    var extra = environment.merging([
      "TLS_CERT_FILE": server.certificateFile, "TLS_KEY_FILE": server.keyFile, "BACKEND_TLS_CA_FILE": ca.certificateFile,
      "BACKEND_TLS_CERT_FILE": gatewayClient.certificateFile, "BACKEND_TLS_KEY_FILE": gatewayClient.keyFile,
    ]) { _, new in new }
    extra["GATEWAY_API_KEYS_FILE"] = keysPath
    // A killed gateway's claim on the request it was running lapses after this long.
    extra["GATEWAY_REQUEST_LEASE_S"] = "2"
    for (name, (_, variable)) in Self.backendExecutables { extra[variable] = "127.0.0.1:\(ports[name]!)" }
    if let step { extra["GATEWAY_TEST_CRASH_AFTER_STEP"] = step }
    let process = try RunningProcess("gateway", environment: serviceEnvironment(directory, "gateway", extra: extra))
    return (process, try await process.listeningAddress().port)
  }

  func stop() async {
    for process in backends.values {
      process.signal(SIGTERM)
      _ = try? await process.waitForExit()
    }
    directory.remove()
  }
}

extension SuiteProcesses {
  static let contactValues = [
    "name": "Ada Lovelace", "email": "ada@example.org", "phone": "+49 30 1234567", "iban": "DE89370400440532013000", "segment": "gold",
  ]

  /// Fields and a purpose straight in the backends, then a contact through the gateway.
  func seed(gatewayPort: Int) async throws -> String {
    try await withBackend("vault") { client async throws in
      let vault = Privacy_Vault_V1_VaultService.Client(wrapping: client)
      for field: Privacy_Vault_V1_UpsertFieldRequest in [
        .with { $0.name = "segment"; $0.classification = .none },
        .with { $0.name = "name"; $0.classification = .personal },
        .with { $0.name = "email"; $0.classification = .personal; $0.mask = .email; $0.tags = ["email"] },
        .with { $0.name = "phone"; $0.classification = .personal; $0.tags = ["phone"] },
        .with { $0.name = "iban"; $0.classification = .sensitive; $0.mask = .last4; $0.tags = ["billing"] },
      ] { _ = try await vault.upsertField(field) }
    }
    try await withBackend("consent") { client async throws in
      let purposes: [(String, Privacy_Consent_V1_PurposeCategory)] = [
        ("newsletter", .emailMarketing), ("partners", .thirdPartySharing), ("scoring", .automatedDecisions),
      ]
      for (id, category) in purposes {
        _ = try await Privacy_Consent_V1_ConsentService.Client(wrapping: client).upsertPurpose(.with {
          $0.purpose = .with {
            $0.purposeID = id
            $0.title = id.capitalized
            $0.legalBasis = .consent
            $0.category = category
            $0.noticeVersion = "v1"
            $0.noticeText = "We use your data for \(id)."
          }
        })
      }
    }
    try await withBackend("rights") { client async throws in
      _ = try await Privacy_Rights_V1_SubjectRightsService.Client(wrapping: client).upsertRecipient(.with {
        $0.recipientID = "acme-ads"
        $0.name = "ACME Ads"
        $0.contact = "privacy@acme.example"
        $0.purposeIds = ["partners"]
      })
    }
    let subject = try await asDPO(port: gatewayPort) { client async throws in
      try await Privacy_Gateway_V1_AdminService.Client(wrapping: client).createContact(.with {
        $0.values = Self.contactValues
        $0.consents = ["newsletter", "partners", "scoring"].map { id in
          .with {
            $0.purposeID = id
            $0.decision = .granted
          }
        }
        $0.source = .with {
          $0.evidence = .with { $0.channel = .webform }
          $0.ownWebformSubmission = true
          $0.marketingBoxTicked = true
        }
      }).subjectID
    }
    try await confirmDoubleOptIn(subject, gatewayPort: gatewayPort)
    return subject
  }

  /// Follows the subject's double opt-in link as the person would, then waits until the gateway
  /// has released the pending record (up to the reactor's lease time and more: a gateway killed
  /// before this one still holds the lease until it expires).
  func confirmDoubleOptIn(_ subject: String, gatewayPort: Int) async throws {
    try await withBackend("consent") { client async throws in
      let consent = Privacy_Consent_V1_ConsentService.Client(wrapping: client)
      let messages = try await consent.listOutbox(.with { $0.pageSize = 1000 }).messages
      let link = try #require(messages.last { $0.subjectID == subject && $0.kind == .doubleOptIn }?.link)
      let token = try #require(URLComponents(string: link)?.queryItems?.first { $0.name == "token" }?.value)
      _ = try await consent.confirmDoubleOptIn(.with { $0.token = token })
    }
    let released = try await eventually(timeout: .seconds(40)) {
      try await asDPO(port: gatewayPort) { client async throws in
        try await !Privacy_Vault_V1_VaultService.Client(wrapping: client).getRecord(.with { $0.subjectID = subject }).record.pending
      }
    }
    try #require(released)
  }

  func openVerified(
    port: Int, subject: String, right: Privacy_Rights_V1_Right, details: Privacy_Rights_V1_RequestDetails? = nil
  ) async throws -> String {
    try await asDPO(port: port) { client async throws in
      let rights = Privacy_Rights_V1_SubjectRightsService.Client(wrapping: client)
      let id = try await rights.openRequest(.with {
        $0.subjectID = subject
        $0.right = right
        $0.requesterEmail = "ada@example.org"
        $0.channel = .email
        if let details { $0.details = details }
      }).request.requestID
      _ = try await rights.verifyManually(.with {
        $0.requestID = id
        $0.note = "identity checked by phone call-back"
      })
      return id
    }
  }
}

extension SuiteProcesses {
  /// How long any call of these tests may take: gateways are killed under them, and a call left
  /// waiting on a dead connection must fail where it waits, not hold the whole run.
  static let callDeadline = Duration.seconds(90)

  /// A client of the gateway at `port` over TLS presenting the DPO's API key.
  func asDPO<T: Sendable>(port: Int, _ body: (GRPCClient<HTTP2ClientTransport.Posix>) async throws -> T) async throws -> T {
    try await withGatewayClient(
      port: port, authorization: "Bearer dpo-key.secret-dpo", security: ca.transportSecurity(), deadline: Self.callDeadline, body)
  }

  /// A client of the gateway with the `delivery` role's API key (access and portability bundles).
  func asDelivery<T: Sendable>(port: Int, _ body: (GRPCClient<HTTP2ClientTransport.Posix>) async throws -> T) async throws -> T {
    try await withGatewayClient(
      port: port, authorization: "Bearer delivery-key.secret-delivery", security: ca.transportSecurity(), deadline: Self.callDeadline,
      body)
  }

  /// A client of one backend, presenting the gateway's certificate as the gateway would.
  func withBackend<T: Sendable>(_ name: String, _ body: (GRPCClient<HTTP2ClientTransport.Posix>) async throws -> T) async throws -> T {
    try await withTestClient(
      port: ports[name]!, security: ca.transportSecurity(presenting: gatewayClient), deadline: Self.callDeadline, body)
  }
}

struct BearerInterceptor: ClientInterceptor {
  let token: String

  func intercept<Input: Sendable, Output: Sendable>(
    request: StreamingClientRequest<Input>, context: ClientContext,
    next: (StreamingClientRequest<Input>, ClientContext) async throws -> StreamingClientResponse<Output>
  ) async throws -> StreamingClientResponse<Output> {
    var request = request
    request.metadata.addString("Bearer \(token)", forKey: "authorization")
    return try await next(request, context)
  }
}

/// The workflow suites that start the five executables run one at a time: each starts up to nine
/// processes, and running them side by side starves the other process tests of CPU.
@Suite("Workflows through the real executables", .serialized)
struct ProcessWorkflowTests {}

extension ProcessWorkflowTests {
  /// Each test normally takes about a minute; the limit turns a hang into a failure that names
  /// the test.
  @Suite("Workflows survive a gateway crash between steps", .timeLimit(.minutes(6)))
  struct WorkflowCrashTests {
    /// Runs ExecuteRequest on a gateway that crashes after `step`, then on a fresh gateway; returns
    /// the second answer.
    private func crashThenResume(_ suite: SuiteProcesses, requestID: String, step: String) async throws -> Privacy_Gateway_V1_ExecuteRequestResponse {
      let (crashing, crashingPort) = try await suite.gateway(crashAfter: step)
      let lost = await capturedRPCError {
        try await suite.asDPO(port: crashingPort) { client async throws in
          try await Privacy_Gateway_V1_AdminService.Client(wrapping: client).executeRequest(.with { $0.requestID = requestID })
        }
      }
      #expect(lost != nil, "the call must fail when the gateway dies")
      #expect(try await crashing.waitForExit() == 3)

      let (gateway, port) = try await suite.gateway()
      defer { gateway.signal(SIGTERM) }
      return try await suite.asDPO(port: port) { client async throws in
        let admin = Privacy_Gateway_V1_AdminService.Client(wrapping: client)
        let rights = Privacy_Rights_V1_SubjectRightsService.Client(wrapping: client)
        let halfway = try await rights.getRequest(.with { $0.requestID = requestID }).request
        #expect(halfway.status == .inProgress)
        #expect(halfway.steps.first { $0.name == step }?.status == .done)
        // The killed gateway's lease on the request is refused (ABORTED) until it lapses.
        let start = ContinuousClock.now
        while true {
          do {
            return try await admin.executeRequest(.with { $0.requestID = requestID })
          } catch let error as RPCError where error.code == .aborted && ContinuousClock.now - start < .seconds(15) {
            try await Task.sleep(for: .milliseconds(200))
          }
        }
      }
    }

    @Test("ERASURE: killed after each step in turn, the resumed run reaches the same end state")
    func erasure() async throws {
      let suite = try await SuiteProcesses()
      for step in ["blocklist_identifiers", "vault_erase", "consent_erase", "recipients_listed", "recipients_notified"] {
        try await erasure(crashingAfter: step, suite: suite)
      }
      await suite.stop()
    }

    private func erasure(crashingAfter step: String, suite: SuiteProcesses) async throws {
      let (gateway, port) = try await suite.gateway()
      let subject = try await suite.seed(gatewayPort: port)
      let requestID = try await suite.openVerified(port: port, subject: subject, right: .erasure)
      gateway.signal(SIGTERM)
      _ = try await gateway.waitForExit()

      let resumed = try await crashThenResume(suite, requestID: requestID, step: step)
      #expect(resumed.status == .completed && resumed.resumed, "crash after \(step)")
      #expect(resumed.steps.map(\.name) == ["blocklist_identifiers", "vault_erase", "consent_erase", "recipients_listed", "recipients_notified"])
      #expect(resumed.steps.allSatisfy { $0.status == .done && $0.attempts == 1 }, "crash after \(step)")
      #expect(resumed.erasureEvidence.fieldsErased == ["email", "iban", "name", "phone"])
      #expect(resumed.erasureEvidence.dataKeyDestroyed && resumed.erasureEvidence.identifiersBlocklisted == 2)

      let (after, afterPort) = try await suite.gateway()
      try await suite.asDPO(port: afterPort) { client async throws in
        let record = try await Privacy_Vault_V1_VaultService.Client(wrapping: client).getRecord(.with { $0.subjectID = subject }).record
        #expect(record.erased && record.fields.filter { $0.classification != .none }.allSatisfy { $0.value.isEmpty })
        let ledger = try await Privacy_Consent_V1_ConsentService.Client(wrapping: client).verifyLedger(.init()).verification
        #expect(ledger.valid)
        let state = try await Privacy_Consent_V1_ConsentService.Client(wrapping: client).getConsentState(.with { $0.subjectID = subject }).state
        #expect(state.erased)
        let refused = await capturedRPCError {
          try await Privacy_Gateway_V1_AdminService.Client(wrapping: client).createContact(.with {
            $0.values = ["email": "ADA@example.org"]
            $0.source = .with { $0.evidence = .with { $0.channel = .import } }
          })
        }
        #expect(refused?.code == .failedPrecondition && refused?.errorInfoReason == "SUBJECT_PREVIOUSLY_ERASED")
      }
      after.signal(SIGTERM)
      _ = try await after.waitForExit()
    }

    @Test("ACCESS: killed after the bundle was built, the resumed run stores a complete bundle")
    func access() async throws {
      let suite = try await SuiteProcesses()
      let (gateway, port) = try await suite.gateway()
      let subject = try await suite.seed(gatewayPort: port)
      let requestID = try await suite.openVerified(port: port, subject: subject, right: .access)
      gateway.signal(SIGTERM)
      _ = try await gateway.waitForExit()

      let resumed = try await crashThenResume(suite, requestID: requestID, step: "bundle_built")
      #expect(resumed.status == .completed && resumed.resumed && resumed.artifact.sizeBytes > 0)

      let (after, afterPort) = try await suite.gateway()
      try await suite.asDelivery(port: afterPort) { client async throws in
        let artifact = try await Privacy_Rights_V1_SubjectRightsService.Client(wrapping: client).getArtifact(.with { $0.requestID = requestID }).artifact
        let archive = try Archive(data: artifact.content, accessMode: .read)
        var json = Data()
        _ = try archive.extract(try #require(archive["data.json"])) { json.append($0) }
        let text = String(decoding: json, as: UTF8.self)
        for (field, value) in SuiteProcesses.contactValues {
          #expect(text.contains("\"\(value)\""), "data.json lacks \(field)")
        }
        #expect(archive["personal_data.csv"] != nil && archive["consent_ledger.csv"] != nil)
      }
      after.signal(SIGTERM)
      _ = try await after.waitForExit()
      await suite.stop()
    }
  }
}
