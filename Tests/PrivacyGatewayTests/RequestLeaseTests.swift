import Foundation
import GRPCCore
import PrivacyGateway
import PrivacyKit
import PrivacyTesting
import Testing

@Suite("Request lease: one run of a request at a time, whichever gateway")
struct RequestLeaseTests {
  @Test("a request another run holds is refused (ABORTED, nothing done); once that lease lapses it runs, and its own lease is given back")
  func leaseHeld() async throws {
    let fixture = try GatewayFixture()
    try await fixture.run { port, backends async throws in
      try await WorkflowData.seed(backends)
      try await asRole("dpo", port: port) { client async throws in
        let admin = AdminClient(wrapping: client)
        let subject = try await admin.createContact(WorkflowData.webformContact()).subjectID
        // An id no request can have is refused before a claim on it is stored.
        let oversized = await capturedRPCError { try await admin.executeRequest(.with { $0.requestID = String(repeating: "r", count: 4000) }) }
        #expect(oversized?.code == .invalidArgument && oversized?.message == "request_id must be at most 128 characters")

        let requestID = try await WorkflowData.openVerified(client, subject: subject, right: .notification)
        // Another gateway's run, as its lease in the shared database says.
        let other = try GatewayStores.open(sqlite: fixture.auditPath).reactor
        // Held for 5 s: long enough that a loaded machine still refuses within it.
        let heldUntil = Date() + 5
        #expect(try await other.acquireLease("request:\(requestID)", holder: "gateway-b/run-1", now: Date(), until: heldUntil))

        let refused = await capturedRPCError { try await admin.executeRequest(.with { $0.requestID = requestID }) }
        #expect(refused?.code == .aborted)
        #expect(refused?.message.contains("is being executed by another call") == true)
        let untouched = try await RightsClient(wrapping: client).getRequest(.with { $0.requestID = requestID }).request
        #expect(untouched.status == .verified)

        try await Task.sleep(for: .seconds(max(0, heldUntil.timeIntervalSinceNow) + 0.1))
        let executed = try await admin.executeRequest(.with { $0.requestID = requestID })
        #expect(executed.status == .completed)
        #expect(try await other.acquireLease("request:\(requestID)", holder: "gateway-b/run-2", now: Date(), until: Date() + 1))
      }
    }
  }
}
