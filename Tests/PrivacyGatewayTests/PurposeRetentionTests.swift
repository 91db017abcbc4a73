import Foundation
import GRPCCore
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Testing

@Suite("Purpose retention: fields kept only under a storage purpose go when its retention_days after the last engagement run out")
struct PurposeRetentionTests {
  @Test("the sweep erases a lapsed purpose's fields unless another purpose keeps them, audits each subject, and does nothing twice")
  func sweep() async throws {
    let fixture = try GatewayFixture()
    try await fixture.run { port, backends async throws in
      try await WorkflowData.seed(backends)
      try await withTestClient(port: backends[.consent]!) { client async throws in
        let consent = ConsentClient(wrapping: client)
        // `storage` (iban, diagnosis) is kept 30 days after the last engagement; diagnosis is
        // also kept, without a limit, for the medical file.
        var storage = WorkflowData.purpose("storage", .dataStorage, .consent, fields: ["iban", "diagnosis"])
        storage.retentionDays = 30
        var medical = WorkflowData.purpose("medical-file", .dataStorage, .legalObligation, fields: ["diagnosis"])
        medical.retentionDays = 0
        for purpose in [storage, medical] { _ = try await consent.upsertPurpose(.with { $0.purpose = purpose }) }
      }
      try await asRole("dpo", port: port) { client async throws in
        let admin = AdminClient(wrapping: client)
        let vault = VaultClient(wrapping: client)
        let start = fixture.clock.now()
        for subject in ["dormant", "active"] {
          var contact = WorkflowData.webformContact()
          contact.subjectID = subject
          _ = try await admin.createContact(contact)
        }
        // "active" engages again 20 days later.
        fixture.clock.advance(by: 20 * 86_400)
        try await withTestClient(port: backends[.rights]!) { direct async throws in
          _ = try await RightsClient(wrapping: direct).recordEngagement(.with { $0.subjectID = "active" })
        }
        let later = start.addingTimeInterval(31 * 86_400).protoTimestamp
        let malformed = await capturedRPCError {
          try await admin.runRetentionSweep(.with { $0.purposeRetentionSince = .with { $0.seconds = 999_999_999_999 } })
        }
        #expect(malformed?.code == .invalidArgument && malformed?.message.contains("purpose_retention_since") == true)
        let first = try await admin.runRetentionSweep(.with { $0.now = later })
        #expect(first.purposeRetentionSubjects == 1 && first.failures.isEmpty)

        let dormant = try await vault.getRecord(.with { $0.subjectID = "dormant" }).record
        #expect(dormant.field("iban") == nil)  // erased, not locked: the person may give it again
        #expect(dormant.field("diagnosis")?.value.isEmpty == false && dormant.field("email")?.value == "ada@example.org")
        let active = try await vault.getRecord(.with { $0.subjectID = "active" }).record
        #expect(active.field("iban")?.value.isEmpty == false)

        let erasures = try await admin.listAudit(.with {
          $0.method = "privacy.vault.v1.VaultService/EraseFields"
          $0.pageSize = 100
        }).entries
        #expect(erasures.map(\.phase).sorted { $0.rawValue < $1.rawValue } == [.intent, .outcome])
        #expect(erasures.allSatisfy { $0.subjectID == "dormant" && $0.reason.contains("storage") && $0.statusCode == 0 })

        // Nothing left to erase: no step, no entry.
        let second = try await admin.runRetentionSweep(.with { $0.now = later })
        #expect(second.purposeRetentionSubjects == 0)
        #expect(try await admin.listAudit(.with { $0.method = "privacy.vault.v1.VaultService/EraseFields" }).entries.count == 2)

        // A sweep told to look only at what ran out since a later instant leaves "active" alone;
        // one whose window covers its limit erases it.
        let afterActive = start.addingTimeInterval(51 * 86_400)
        let narrow = try await admin.runRetentionSweep(.with {
          $0.now = afterActive.protoTimestamp
          $0.purposeRetentionSince = afterActive.addingTimeInterval(-3600).protoTimestamp
        })
        #expect(narrow.purposeRetentionSubjects == 0)
        let window = try await admin.runRetentionSweep(.with {
          $0.now = afterActive.protoTimestamp
          $0.purposeRetentionSince = start.addingTimeInterval(49 * 86_400).protoTimestamp
        })
        #expect(window.purposeRetentionSubjects == 1)
        #expect(try await vault.getRecord(.with { $0.subjectID = "active" }).record.field("iban") == nil)
      }
    }
  }
}
