import Foundation
import GRPCCore
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Testing

@testable import PrivacyGateway

@Suite("RunRetentionSweep erasing several subjects at once")
struct RetentionSweepTests {
  @Test("more subjects due than the sweep erases at once: each erased once, by one request and one audit entry")
  func manySubjectsDue() async throws {
    let count = 2 * RetentionSweep.subjectsAtOnce + 3
    let fixture = try GatewayFixture()
    try await fixture.run { port, backends async throws in
      try await WorkflowData.seed(backends)
      try await asRole("dpo", port: port) { client async throws in
        let admin = AdminClient(wrapping: client)
        let rights = RightsClient(wrapping: client)
        let vault = VaultClient(wrapping: client)
        var stale: [String] = []
        for index in 0..<count {
          var values = WorkflowData.contactValues
          values["email"] = "inactive.\(index)@example.org"
          values["phone"] = "+44 20 7946 \(1000 + index)"
          values["national_id"] = "ZX\(100_000 + index)A"
          var contact = WorkflowData.webformContact(values: values)
          contact.source.evidence.capturedAt = Date().addingTimeInterval(-86_400 * 400).protoTimestamp
          stale.append(try await admin.createContact(contact).subjectID)
        }
        let active = try await admin.createContact(WorkflowData.webformContact()).subjectID
        _ = try await rights.upsertRetentionPolicy(.with {
          $0.name = "inactive-contacts"
          $0.inactivityDays = 365
          $0.scope = "all"
        })

        let sweep = try await admin.runRetentionSweep(.init())
        #expect(sweep.failures.isEmpty, "\(sweep.failures)")
        #expect(sweep.subjectsDue == count && sweep.requestsOpened == count && sweep.requestsCompleted == count)
        for subject in stale {
          #expect(try await vault.getRecord(.with { $0.subjectID = subject }).record.erased, "\(subject)")
          let requests = try await rights.listRequests(.with { $0.filter = .with { $0.subjectID = subject } }).requests
          #expect(requests.map(\.status) == [.completed] && requests.first?.origin == .retention, "\(subject): \(requests)")
        }
        #expect(try await !vault.getRecord(.with { $0.subjectID = active }).record.erased)
        let entries = try await admin.listAudit(.with {
          $0.method = "privacy.gateway.v1.AdminService/RunRetentionSweep"
          $0.pageSize = 1000
        }).entries
        #expect(entries.filter { $0.phase == .unspecified }.map(\.subjectID).sorted() == stale.sorted())

        let again = try await admin.runRetentionSweep(.init())
        #expect(again.subjectsDue == 0 && again.requestsOpened == 0 && again.requestsCompleted == 0)
      }
    }
  }
}
