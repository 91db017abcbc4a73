import Foundation
import GRPCCore
import PrivacyGateway
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Testing

@Suite("Reports: the records of processing (art 30) from the catalogue")
struct ReportsTests {
  @Test("one record per purpose: basis, data categories with classification, subject categories, recipients, transfers, retention, measures")
  func processingRecords() async throws {
    let fixture = try GatewayFixture()
    try await fixture.run { port, backends async throws in
      try await WorkflowData.seed(backends)
      try await withTestClient(port: backends[.consent]!) { client async throws in
        var storage = WorkflowData.purpose("storage", .dataStorage, .consent, fields: ["iban", "diagnosis"])
        storage.subjectCategories = ["customers", "patients"]
        _ = try await ConsentClient(wrapping: client).upsertPurpose(.with { $0.purpose = storage })
      }
      try await withTestClient(port: backends[.rights]!) { client async throws in
        let rights = RightsClient(wrapping: client)
        _ = try await rights.upsertRecipient(.with {
          $0.recipientID = "acme-ads"
          $0.name = "ACME Ads"
          $0.contact = "privacy@acme.example"
          $0.purposeIds = ["partners", "storage"]
          $0.transferCountry = "US"
          $0.transferSafeguard = "standard contractual clauses 2021/914, module 2"
        })
        for (country, safeguard) in [("US", ""), ("", "SCC"), ("usa", "SCC")] {
          let refused = await capturedRPCError {
            try await rights.upsertRecipient(.with {
              $0.recipientID = "other"
              $0.name = "Other"
              $0.contact = "x@example.org"
              $0.transferCountry = country
              $0.transferSafeguard = safeguard
            })
          }
          #expect(refused?.code == .invalidArgument, "\(country) \(safeguard)")
        }
      }
      for role in ["dpo", "auditor"] {
        let records = try await asRole(role, port: port) { client async throws in
          try await AdminClient(wrapping: client).getProcessingRecords(.init()).records
        }
        #expect(records.map(\.purposeID) == ["analytics", "newsletter", "partners", "scoring", "storage"], "\(role)")
        let storage = try #require(records.last)
        #expect(storage.legalBasis == .consent && storage.category == .dataStorage && storage.retentionDays == 365)
        #expect(storage.dataCategories.map(\.field) == ["diagnosis", "iban"])
        #expect(storage.dataCategories.allSatisfy { $0.classification == .sensitive })
        #expect(storage.dataCategories.first?.specialCategory == .health)
        #expect(storage.subjectCategories == ["customers", "patients"])
        #expect(storage.recipients.map(\.recipientID) == ["acme-ads"])
        #expect(storage.transfers.map(\.country) == ["US"] && storage.transfers.first?.safeguard.contains("2021/914") == true)
        #expect(storage.technicalMeasures.contains { $0.contains("AES-256-GCM") && $0.contains("default") })
        #expect(storage.technicalMeasures.contains { $0.contains("HMAC-SHA256") })
        let analytics = try #require(records.first)
        #expect(analytics.legalBasis == .legitimateInterests && analytics.dataCategories.isEmpty && analytics.recipients.isEmpty)
        #expect(!analytics.technicalMeasures.contains { $0.contains("AES-256-GCM") })
      }
      let refused = await capturedRPCError {
        try await asRole("support", port: port) { client async throws in
          try await AdminClient(wrapping: client).getProcessingRecords(.init())
        }
      }
      #expect(refused?.code == .permissionDenied)
    }
  }
}
