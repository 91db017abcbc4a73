import Foundation
import GRPCCore
import PrivacyConsent
import PrivacyGateway
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import ServiceLifecycle
import Testing

@Suite("The gateway's copy of the consent ledger")
struct ConsentCopyTests {
  /// A consent-based purpose (also the purpose of `EventLoopChecksTests`).
  static let newsletter = Privacy_Consent_V1_Purpose.with {
    $0.purposeID = "newsletter"
    $0.title = "Newsletter"
    $0.description_p = "Our weekly newsletter"
    $0.legalBasis = .consent
    $0.category = .emailMarketing
    $0.retentionDays = 365
    $0.noticeVersion = "v1"
    $0.noticeText = "We send you our newsletter."
  }

  /// A subject's decision on the newsletter, from a webform.
  static func record(_ subject: String, _ decision: Privacy_Consent_V1_Decision) -> Privacy_Consent_V1_RecordConsentRequest {
    .with {
      $0.subjectID = subject
      $0.purposeID = "newsletter"
      $0.decision = decision
      $0.evidence = .with {
        $0.channel = .webform
        $0.actorKind = .subject
      }
    }
  }

  private static func check(_ subject: String, _ purpose: String = "newsletter") -> Privacy_Consent_V1_CheckConsentRequest {
    .with {
      $0.subjectID = subject
      $0.purposeID = purpose
    }
  }

  /// Calls of a consent method the service finished, whatever their status.
  private static func served(_ metrics: ServerMetrics, _ method: String) -> Int {
    handledCalls(metrics, method: "privacy.consent.v1.ConsentService/" + method)
  }

  /// The fixture's consent service, counting the calls it serves.
  private static func consentServer(_ fixture: GatewayFixture, metrics: ServerMetrics) async throws -> PrivacyServer {
    let environment = fixture.environment("consent")
    let service = try ServiceConfiguration(kind: .consent, environment: environment)
    return try await makeConsentServer(
      configuration: ConsentConfiguration(service: service, environment: EnvironmentReader(environment)), logger: silentLogger,
      metrics: metrics)
  }

  @Test("the gateway answers checks from its copy as the service would, reads its own writes, and stops once the copy is stale")
  func answersFromTheCopy() async throws {
    let fixture = try GatewayFixture()
    let metrics = ServerMetrics()
    let consentServer = try await Self.consentServer(fixture, metrics: metrics)
    // The consent service runs in a group of its own, to be stopped while the gateway serves.
    let group = ServiceGroup(services: [consentServer], logger: silentLogger)
    let running = Task { try await group.run() }
    let consentPort = try await consentServer.address.wait().port
    let copy = ["GATEWAY_CONSENT_COPY_MAX_STALENESS_MS": "10000"]
    try await withRunningServer(try await fixture.gateway(backends: [.consent: consentPort], extra: copy)) { gateway in
      try await asRole("admin", port: gateway) { client async throws in
        let consent = ConsentClient(wrapping: client)
        _ = try await consent.upsertPurpose(.with { $0.purpose = Self.newsletter })
        _ = try await consent.upsertMailingList(.with {
          $0.list = .with {
            $0.listID = "weekly"
            $0.name = "Weekly"
            $0.defaultSubscribed = true
          }
        })
      }
      try await asRole("service", port: gateway) { client async throws in
        let consent = ConsentClient(wrapping: client)
        // Each check right after a write through the gateway sees that write.
        for round in 1...20 {
          let granted = round % 2 == 1
          _ = try await consent.recordConsent(Self.record("c-\(round % 3)", granted ? .granted : .withdrawn))
          #expect(try await consent.checkConsent(Self.check("c-\(round % 3)")).allowed == granted, "round \(round)")
        }
        // Once caught up, the copy answers: checks no longer reach the service.
        #expect(try await eventually {
          let before = Self.served(metrics, "CheckConsent")
          for _ in 1...10 { _ = try await consent.checkConsent(Self.check("c-1")) }
          return Self.served(metrics, "CheckConsent") == before
        })
        let eligibilityBefore = Self.served(metrics, "CheckEmailEligibility")
        let health = try await asRole("dpo", port: gateway) { admin async throws in
          try await AdminClient(wrapping: admin).getBackendHealth(.init())
        }
        #expect(health.consentCopy.answering && health.consentCopy.hasSinceCaughtUp)
        #expect(health.consentCopy.subjects == 3)
        #expect(health.consentCopy.sequence == (try await withTestClient(port: consentPort) { direct async throws in
          try await ConsentClient(wrapping: direct).listConsentEvents(.with { $0.pageSize = 1000 }).events.last?.sequence
        }))
        try await withTestClient(port: consentPort) { direct async throws in
          let backend = ConsentClient(wrapping: direct)
          for subject in ["c-0", "c-1", "c-2", "c-never-seen"] {
            #expect(try await consent.checkConsent(Self.check(subject)) == backend.checkConsent(Self.check(subject)), "\(subject)")
            for question in [
              Privacy_Consent_V1_CheckEmailEligibilityRequest.with {
                $0.subjectID = subject
                $0.messageKind = .campaign
                $0.policy = .anyOptIn
                $0.listID = "weekly"
              },
              .with {
                $0.subjectID = subject
                $0.messageKind = .workflow
                $0.purposeID = "newsletter"
              },
              .with {
                $0.subjectID = subject
                $0.messageKind = .reply
              },
            ] {
              #expect(try await consent.checkEmailEligibility(question) == backend.checkEmailEligibility(question), "\(subject)")
            }
          }
          let batch = Privacy_Consent_V1_CheckConsentBatchRequest.with { request in
            request.checks = ["c-0", "c-1", "c-2", "c-never-seen"].map { subject in .with { $0.subjectID = subject; $0.purposeID = "newsletter" } }
          }
          let batchesBefore = Self.served(metrics, "CheckConsentBatch")
          #expect(try await consent.checkConsentBatch(batch) == backend.checkConsentBatch(batch))
          #expect(Self.served(metrics, "CheckConsentBatch") == batchesBefore + 1, "only the direct batch reaches the service")
          // A malformed question gets the service's own refusal, from the copy.
          let malformed = Self.check("not an id")
          let fromGateway = await #expect(throws: RPCError.self) { try await consent.checkConsent(malformed) }
          let fromService = await #expect(throws: RPCError.self) { try await backend.checkConsent(malformed) }
          #expect(fromGateway?.code == .invalidArgument && fromGateway?.message == fromService?.message)
          #expect(Self.served(metrics, "CheckEmailEligibility") == eligibilityBefore + 12, "only the direct questions reach the service")

          // A purpose the copy does not know goes to the service, which says NOT_FOUND.
          let before = Self.served(metrics, "CheckConsent")
          let unknown = await #expect(throws: RPCError.self) { try await consent.checkConsent(Self.check("c-1", "no-such-purpose")) }
          #expect(unknown?.code == .notFound)
          #expect(Self.served(metrics, "CheckConsent") == before + 1)

          // A write that did not pass through this gateway reaches the copy within its bound.
          _ = try await backend.recordConsent(Self.record("c-direct", .granted))
          #expect(try await eventually { try await consent.checkConsent(Self.check("c-direct")).allowed })
        }
      }
      // The consent service stops: the copy answers until its staleness bound passes, then the
      // checks go to the service, which is gone (its port held, never answering: no server of a
      // test running beside may take it).
      await group.triggerGracefulShutdown()
      try await running.value
      let held = holdLoopbackPort(consentPort)
      defer { if let held { close(held) } }
      try await asRole("service", port: gateway) { client async throws in
        let consent = ConsentClient(wrapping: client)
        var options = CallOptions.defaults
        options.timeout = .seconds(2)
        #expect(try await consent.checkConsent(Self.check("c-1"), options: options).allowed)
        #expect(try await eventually(timeout: .seconds(30)) {
          do {
            _ = try await consent.checkConsent(Self.check("c-1"), options: options)
            return false
          } catch let error as RPCError {
            return [.unavailable, .deadlineExceeded].contains(error.code)
          }
        })
      }
    }
  }

  @Test("a consent service whose ledger is not the one the copy holds (an older backup) makes the copy start over")
  func rebuiltOnDivergence() async throws {
    let fixture = try GatewayFixture()
    let first = try await Self.consentServer(fixture, metrics: ServerMetrics())
    let group = ServiceGroup(services: [first], logger: silentLogger)
    let running = Task { try await group.run() }
    let consentPort = try await first.address.wait().port
    func copyState(_ gateway: Int) async throws -> Privacy_Gateway_V1_ConsentCopyState {
      try await asRole("dpo", port: gateway) { admin async throws in try await AdminClient(wrapping: admin).getBackendHealth(.init()) }
        .consentCopy
    }
    try await withRunningServer(try await fixture.gateway(backends: [.consent: consentPort])) { gateway in
      try await asRole("admin", port: gateway) { client async throws in
        _ = try await ConsentClient(wrapping: client).upsertPurpose(.with { $0.purpose = Self.newsletter })
      }
      try await asRole("service", port: gateway) { client async throws in
        let consent = ConsentClient(wrapping: client)
        for subject in ["c-1", "c-2", "c-3"] { _ = try await consent.recordConsent(Self.record(subject, .granted)) }
      }
      #expect(try await eventually { try await copyState(gateway).answering })
      #expect(try await copyState(gateway).sequence == 3)

      // Another ledger comes up on the same address: one event, c-1 denied.
      await group.triggerGracefulShutdown()
      try await running.value
      let environment = fixture.environment("consent-restored", extra: ["GRPC_PORT": "\(consentPort)"])
      let service = try ServiceConfiguration(kind: .consent, environment: environment)
      let restored = try await makeConsentServer(
        configuration: ConsentConfiguration(service: service, environment: EnvironmentReader(environment)), logger: silentLogger)
      try await withRunningServer(restored) { port in
        try await withTestClient(port: port) { direct async throws in
          let backend = ConsentClient(wrapping: direct)
          _ = try await backend.upsertPurpose(.with { $0.purpose = Self.newsletter })
          _ = try await backend.recordConsent(Self.record("c-1", .denied))
        }
        // The copy notices (its last event is not this ledger's), starts over from this ledger
        // and answers from it again.
        #expect(try await eventually(timeout: .seconds(30)) {
          let state = try await copyState(gateway)
          return state.answering && state.sequence == 1 && state.subjects == 1
        })
        try await asRole("service", port: gateway) { client async throws in
          let consent = ConsentClient(wrapping: client)
          #expect(try await consent.checkConsent(Self.check("c-1")).allowed == false)
          #expect(try await consent.checkConsent(Self.check("c-2")).allowed == false)
        }
      }
    }
  }

  @Test("GATEWAY_CONSENT_COPY_MAX_STALENESS_MS 0 turns the copy off; below 400 ms it is refused")
  func turnedOff() async throws {
    let fixture = try GatewayFixture()
    let error = #expect(throws: ConfigurationError.self) {
      try fixture.gatewayConfiguration(backends: [:], extra: ["GATEWAY_CONSENT_COPY_MAX_STALENESS_MS": "399"])
    }
    #expect("\(error.map { "\($0)" } ?? "")".contains("GATEWAY_CONSENT_COPY_MAX_STALENESS_MS"))
    #expect(try fixture.gatewayConfiguration(backends: [:], extra: ["GATEWAY_CONSENT_COPY_MAX_STALENESS_MS": "0"]).consentCopyMaxStaleness == nil)
    #expect(try fixture.gatewayConfiguration(backends: [:]).consentCopyMaxStaleness == .seconds(5))

    let metrics = ServerMetrics()
    try await withRunningServer(try await Self.consentServer(fixture, metrics: metrics)) { consentPort in
      try await withTestClient(port: consentPort) { direct async throws in
        _ = try await ConsentClient(wrapping: direct).upsertPurpose(.with { $0.purpose = Self.newsletter })
      }
      let off = ["GATEWAY_CONSENT_COPY_MAX_STALENESS_MS": "0"]
      try await withRunningServer(try await fixture.gateway(backends: [.consent: consentPort], extra: off)) { gateway in
        try await asRole("service", port: gateway) { client async throws in
          let consent = ConsentClient(wrapping: client)
          _ = try await consent.recordConsent(Self.record("c-1", .granted))
          try await Task.sleep(for: .seconds(1))  // time a copy, were there one, would take to catch up
          let before = Self.served(metrics, "CheckConsent")
          for _ in 1...10 { #expect(try await consent.checkConsent(Self.check("c-1")).allowed) }
          #expect(Self.served(metrics, "CheckConsent") == before + 10)
          let health = try await asRole("dpo", port: gateway) { admin async throws in
            try await AdminClient(wrapping: admin).getBackendHealth(.init())
          }
          #expect(!health.hasConsentCopy)
        }
      }
    }
  }
}
