import Foundation
import GRPCCore
import PrivacyBlocklist
import PrivacyGateway
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import ServiceLifecycle
import Testing

@Suite("Backend replicas behind the gateway")
struct BackendReplicaTests {
  @Test("a backend address is host:port, a list of replica IPs of one family, or dns:///name:port")
  func addresses() {
    #expect(BackendTarget("consent.internal:50051")?.addresses == [ServiceAddress(host: "consent.internal", port: 50051)])
    #expect(BackendTarget("dns:///consent.privacy.svc:50051")?.addresses == [ServiceAddress(host: "consent.privacy.svc", port: 50051)])
    #expect(BackendTarget("10.0.0.1:50051, 10.0.0.2:50051")?.addresses.map(\.description) == ["10.0.0.1:50051", "10.0.0.2:50051"])
    #expect(BackendTarget("[fd00::1]:50051,[fd00::2]:50051")?.addresses.count == 2)
    for malformed in ["", "consent", "10.0.0.1:50051,", "10.0.0.1:50051,[fd00::2]:50051", "a.internal:1,b.internal:1", "dns:///", "10.0.0.1:0"] {
      #expect(BackendTarget(malformed) == nil, "\(malformed)")
    }
  }

  @Test("reads are tried once more on UNAVAILABLE, writes never")
  func retryOnlyReads() {
    func retried(_ service: String, _ method: String) -> Bool {
      Backend.retriesOnUnavailable(MethodDescriptor(fullyQualifiedService: service, method: method))
    }
    let consent = "privacy.consent.v1.ConsentService", vault = "privacy.vault.v1.VaultService"
    let rights = "privacy.rights.v1.SubjectRightsService", blocklist = "privacy.blocklist.v1.BlocklistService"
    for (service, method) in [
      (consent, "CheckConsent"), (consent, "CheckEmailEligibility"), (vault, "GetRecord"), (vault, "FindByField"),
      (rights, "GetRequest"), (blocklist, "Check"), (blocklist, "List"),
    ] {
      #expect(retried(service, method), "\(method)")
    }
    for (service, method) in [
      (consent, "RecordConsent"), (consent, "AckOutbox"), (vault, "PutRecord"), (vault, "RevealField"), (vault, "ExportRecord"),
      (vault, "ErasePersonalData"), (rights, "CreateRequest"), (blocklist, "Add"), (blocklist, "Remove"),
    ] {
      #expect(!retried(service, method), "\(method)")
    }
  }

  @Test("blocklist replicas behind one address list share the calls; one stopped, every check still answers",
        .enabled(if: PostgresTestDatabase.isAvailable))
  func spreadAndFailover() async throws {
    try await PostgresTestDatabase.with { database in
      let fixture = try GatewayFixture()
      let environment = fixture.environment("blocklist", extra: ["DATABASE_URL": database.url])
      let service = try ServiceConfiguration(kind: .blocklist, environment: environment)
      let metrics = [ServerMetrics(), ServerMetrics()]
      func replica(_ index: Int) async throws -> PrivacyServer {
        try await makeBlocklistServer(service: service, environment: EnvironmentReader(environment), logger: silentLogger, metrics: metrics[index])
      }
      func checks(_ index: Int) -> Int {
        handledCalls(metrics[index], method: "privacy.blocklist.v1.BlocklistService/Check", code: "OK")
      }
      let address = Privacy_Blocklist_V1_Identifier.with {
        $0.kind = .email
        $0.value = "anna@example.com"
      }
      try await withRunningServer(try await replica(0)) { first in
        // The second replica runs in a group of its own, to be stopped while the gateway serves.
        let secondServer = try await replica(1)
        let secondGroup = ServiceGroup(services: [secondServer], logger: silentLogger)
        let secondRun = Task { try await secondGroup.run() }
        let second = try await secondServer.address.wait().port
        let addresses = ["BLOCKLIST_SERVICE_ADDR": "127.0.0.1:\(first),127.0.0.1:\(second)"]
        try await withRunningServer(try await fixture.gateway(backends: [:], extra: addresses)) { gateway in
          try await asRole("dpo", port: gateway) { client async throws in
            let blocklist = BlocklistClient(wrapping: client)
            _ = try await blocklist.add(.with {
              $0.identifiers = [address]
              $0.reason = "erasure request r-1, art 17"
              $0.requestID = "r-1"
            })
            func matched() async throws -> Bool {
              try await blocklist.check(.with { $0.identifiers = [address] }).matches.first?.matched == true
            }
            // The replica that did not take the add follows it within its staleness bound (woken
            // by the database's notification); replicas promise no more than that.
            #expect(try await eventually {
              for _ in 1...4 { guard try await matched() else { return false } }
              return true
            })
            for _ in 1...40 {
              #expect(try await matched())
            }
            #expect(checks(0) > 0 && checks(1) > 0, "checks per replica: \(checks(0)), \(checks(1))")
            await secondGroup.triggerGracefulShutdown()
            try await secondRun.value
            // The gateway keeps dialling the stopped replica's port: no server of a test running
            // beside may take it meanwhile (it answered UNIMPLEMENTED to a blocklist check once).
            let held = holdLoopbackPort(second)
            defer { if let held { close(held) } }
            let before = checks(0)
            for _ in 1...40 {
              #expect(try await matched())
            }
            #expect(checks(0) - before == 40)
          }
        }
        // A gateway started with a replica that is down answers every check from the other.
        let withDown = ["BLOCKLIST_SERVICE_ADDR": "127.0.0.1:\(closedPort()),127.0.0.1:\(first)"]
        try await withRunningServer(try await fixture.gateway(backends: [:], extra: withDown)) { gateway in
          try await asRole("dpo", port: gateway) { client async throws in
            let blocklist = BlocklistClient(wrapping: client)
            for _ in 1...20 {
              #expect(try await blocklist.check(.with { $0.identifiers = [address] }).matches.first?.matched == true)
            }
          }
        }
      }
    }
  }
}
