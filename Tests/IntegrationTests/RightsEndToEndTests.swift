import Foundation
import GRPCCore
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Testing
import ZIPFoundation

/// Every right not covered by the crash tests, executed through a real gateway process with an
/// API key in front of the four real backend processes, each asserting its end state in the
/// backends.
extension ProcessWorkflowTests {
  @Suite("Every right end to end through the real executables")
  struct RightsEndToEndTests {
    @Test("PORTABILITY, RECTIFICATION, OBJECTION, AUTOMATED_DECISION, RESTRICTION and NOTIFICATION")
    func everyRight() async throws {
      let suite = try await SuiteProcesses()
      let (gateway, port) = try await suite.gateway()
      let subject = try await suite.seed(gatewayPort: port)
      try await suite.asDPO(port: port) { client async throws in
        let admin = Privacy_Gateway_V1_AdminService.Client(wrapping: client)
        let vault = Privacy_Vault_V1_VaultService.Client(wrapping: client)
        let consent = Privacy_Consent_V1_ConsentService.Client(wrapping: client)
        let rights = Privacy_Rights_V1_SubjectRightsService.Client(wrapping: client)
        func execute(_ right: Privacy_Rights_V1_Right, _ details: Privacy_Rights_V1_RequestDetails? = nil) async throws -> Privacy_Gateway_V1_ExecuteRequestResponse {
          let id = try await suite.openVerified(port: port, subject: subject, right: right, details: details)
          let answer = try await admin.executeRequest(.with { $0.requestID = id })
          #expect(answer.status == .completed, "\(right)")
          return answer
        }

        let portability = try await execute(.portability)
        let bundle = try await suite.asDelivery(port: port) { delivery async throws in
          try await Privacy_Rights_V1_SubjectRightsService.Client(wrapping: delivery).getArtifact(.with { $0.requestID = portability.requestID }).artifact
        }
        let archive = try Archive(data: bundle.content, accessMode: .read)
        var csv = Data()
        _ = try archive.extract(try #require(archive["personal_data.csv"])) { csv.append($0) }
        #expect(String(decoding: csv, as: UTF8.self).contains("DE89370400440532013000"))
        #expect(portability.artifact.fileName == "portability-\(portability.requestID).zip")

        let rectified = try await execute(.rectification, .with { $0.rectification = .with { $0.changes = ["name": "Ada King"] } })
        #expect(rectified.fieldsRectified == ["name"] && rectified.recipientsToNotify.map(\.recipient.recipientID) == ["acme-ads"])
        #expect(try await vault.getRecord(.with { $0.subjectID = subject }).record.fields.first { $0.name == "name" }?.value == "Ada King")

        let objected = try await execute(.objection, .with { $0.objection = .with { $0.directMarketing = true } })
        #expect(objected.purposesWithdrawn == ["newsletter"])
        #expect(try await consent.getConsentState(.with { $0.subjectID = subject }).state.optInStatus == .optOutContact)

        let automated = try await execute(.automatedDecision)
        #expect(automated.purposesWithdrawn == ["scoring"] && automated.humanReviewFlagged)
        #expect(try await vault.getRecord(.with { $0.subjectID = subject }).record.humanReview)

        let restricted = try await execute(.restriction)
        #expect(restricted.recipientsToNotify.map(\.recipient.recipientID) == ["acme-ads"])
        #expect(try await vault.getRecord(.with { $0.subjectID = subject }).record.restricted)
        let eligibility = try await consent.checkEmailEligibility(.with {
          $0.subjectID = subject
          $0.messageKind = .adHoc
        })
        #expect(!eligibility.allowed)

        let notified = try await execute(.notification)
        let stored = try await rights.getRequest(.with { $0.requestID = notified.requestID }).request
        #expect(stored.recipientsNotified.map(\.recipientID) == ["acme-ads"] && !stored.recipientsNotified[0].summary.isEmpty)
      }
      gateway.signal(SIGTERM)
      _ = try await gateway.waitForExit()
      await suite.stop()
    }
  }
}
