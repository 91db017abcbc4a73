import Foundation
import GRPCCore
import PrivacyGateway
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Testing

@Suite("Batch calls through the gateway: policy, field filtering, one audit entry each")
struct BatchCallsTests {
  private func audit(_ port: Int, method: String) async throws -> [Privacy_Gateway_V1_AuditEntry] {
    try await asRole("auditor", port: port) { client async throws in
      try await AdminClient(wrapping: client).listAudit(.with { $0.method = method }).entries
    }
  }

  @Test("GetRecords: each record filtered as GetRecord's for the role; one entry naming how many subjects")
  func getRecords() async throws {
    let fixture = try GatewayFixture()
    try await fixture.run { port, backends async throws in
      try await TestData.seed(vaultPort: backends[.vault]!)
      let asked = [TestData.subject, "c-unknown", TestData.subject]
      let single = try await asRole("marketing", port: port) { client async throws in
        try await VaultClient(wrapping: client).getRecord(.with { $0.subjectID = TestData.subject })
      }
      let batch = try await asRole("marketing", port: port) { client async throws in
        try await VaultClient(wrapping: client).getRecords(.with { $0.subjectIds = asked })
      }
      #expect(batch.results.map(\.subjectID) == asked)
      #expect(batch.results.map(\.hasRecord) == [true, false, true])
      #expect(batch.results[0].record == single.record && batch.results[2].record == single.record)
      #expect(batch.results[0].record.fields.map(\.name).sorted() == ["email", "name", "segment"])
      #expect(batch.withheldFields == ["diagnosis", "iban", "national_id"])
      let text = try batch.serializedBytes() as [UInt8]
      for value in [TestData.iban, TestData.diagnosis, TestData.nationalID, "****3000"] {
        #expect(!String(decoding: text, as: UTF8.self).contains(value), "\(value) left the gateway")
      }

      // Support may look one customer up, not a batch of them.
      let denied = try await asRole("support", port: port) { client async throws in
        await capturedRPCError { try await VaultClient(wrapping: client).getRecords(.with { $0.subjectIds = [TestData.subject] }) }
      }
      #expect(denied?.code == .permissionDenied)

      let entries = try await audit(port, method: "privacy.vault.v1.VaultService/GetRecords")
      #expect(entries.count == 2)
      let allowed = try #require(entries.first { $0.statusCode == 0 })
      #expect(allowed.actor == "marketing@test" && allowed.subjectsTouched == 2 && allowed.subjectID.isEmpty && allowed.phase == .unspecified)
      let refused = try #require(entries.first { $0.statusCode != 0 })
      #expect(refused.statusCode == 7 && refused.subjectsTouched == 1)
    }
  }

  @Test("CheckConsentBatch: answers in order for a granted role, refused for another; the count is in the chain")
  func checkConsentBatch() async throws {
    let fixture = try GatewayFixture()
    try await fixture.run { port, backends async throws in
      try await withTestClient(port: backends[.consent]!) { client async throws in
        let consent = ConsentClient(wrapping: client)
        _ = try await consent.upsertPurpose(.with { $0.purpose = WorkflowData.purpose("newsletter", .emailMarketing, .consent) })
        _ = try await consent.recordConsent(.with {
          $0.subjectID = "c-1"
          $0.purposeID = "newsletter"
          $0.decision = .granted
          $0.evidence = EvidenceFilterTests.evidence()
        })
      }
      let request = Privacy_Consent_V1_CheckConsentBatchRequest.with {
        $0.checks = ["c-2", "c-1", "c-2"].map { subject in
          .with {
            $0.subjectID = subject
            $0.purposeID = "newsletter"
          }
        }
      }
      let answers = try await asRole("service", port: port) { client async throws in
        try await ConsentClient(wrapping: client).checkConsentBatch(request).answers
      }
      #expect(answers.map(\.allowed) == [false, true, false])
      #expect(answers.map(\.reason) == [.noDecision, .granted, .noDecision])
      let denied = try await asRole("support", port: port) { client async throws in
        await capturedRPCError { try await ConsentClient(wrapping: client).checkConsentBatch(request) }
      }
      #expect(denied?.code == .permissionDenied)

      let entries = try await audit(port, method: "privacy.consent.v1.ConsentService/CheckConsentBatch")
      #expect(entries.map(\.subjectsTouched) == [2, 2])
      #expect(entries.map(\.statusCode) == [7, 0])

      // The count is hashed: changing it in the file breaks the chain at that entry.
      let verification = { () async throws -> Privacy_Common_V1_ChainVerification in
        try await asRole("auditor", port: port) { client async throws in try await AdminClient(wrapping: client).verifyAudit(.init()).verification }
      }
      #expect(try await verification().valid)
      let sequence = try #require(entries.last?.sequence)
      try fixture.executeOnAudit("""
        DROP TRIGGER audit_log_append_only_update;
        UPDATE audit_log SET subjects_touched = 1 WHERE sequence = \(sequence);
        """)
      let broken = try await verification()
      #expect(!broken.valid && broken.firstBrokenSequence == sequence)
    }
  }
}
