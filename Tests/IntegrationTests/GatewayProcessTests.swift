import Foundation
import GRPCCore
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Testing

@Suite("Gateway in front of the real backends")
struct GatewayProcessTests {
  @Test("a backend killed mid-test gives UNAVAILABLE within the deadline, not a hang; the others keep serving")
  func backendKilled() async throws {
    try await RunningSuite.with(gatewayEnvironment: ["GATEWAY_BACKEND_TIMEOUT_MS": "2000"]) { suite async throws in
      try await suite.asRole("dpo") { client async throws in
        let vault = Privacy_Vault_V1_VaultService.Client(wrapping: client)
        let consent = Privacy_Consent_V1_ConsentService.Client(wrapping: client)
        let admin = Privacy_Gateway_V1_AdminService.Client(wrapping: client)
        _ = try await vault.listFields(.init())

        let killed = try #require(suite.backends["vault-service"])
        killed.signal(SIGKILL)
        _ = try await killed.waitForExit()

        let start = ContinuousClock.now
        let error = await capturedRPCError { try await vault.getRecord(.with { $0.subjectID = "c-1" }) }
        #expect(error?.code == .unavailable, "\(String(describing: error))")
        // Within the 2 s deadline, not a hang; the margin is for a machine loaded by the parallel run.
        #expect(ContinuousClock.now - start < .seconds(10))

        let purposes = try await consent.listPurposes(.init())
        #expect(purposes.purposes.isEmpty)
        let health = try await admin.getBackendHealth(.init())
        let status = Dictionary(uniqueKeysWithValues: health.backends.map { ($0.name, $0.status) })
        #expect(status == ["consent": .serving, "vault": .unreachable, "rights": .serving, "blocklist": .serving], "\(health)")
      }
    }
  }
}
