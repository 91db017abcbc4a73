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

  @Test("AssessBreach: reveals by one actor counted as subjects, records and categories, with the art 33(3) draft; the scope narrows it; batch reads counted apart")
  func breach() async throws {
    let fixture = try GatewayFixture()
    try await fixture.run { port, backends async throws in
      try await WorkflowData.seed(backends)
      let subjects = ["b-1", "b-2", "b-3"]
      try await asRole("dpo", port: port) { client async throws in
        for (index, subject) in subjects.enumerated() {
          var contact = WorkflowData.webformContact()
          contact.subjectID = subject
          contact.values["email"] = "person\(index)@example.org"
          contact.values["phone"] = "+49 30 123456\(index)"
          contact.values["national_id"] = "AB12345\(index)C"
          _ = try await AdminClient(wrapping: client).createContact(contact)
        }
        _ = try await VaultClient(wrapping: client).revealField(.with {
          $0.subjectID = "b-1"
          $0.field = "diagnosis"
          $0.reason = "complaint"
        })
      }
      try await asRole("billing", port: port) { client async throws in
        for subject in subjects {
          _ = try await VaultClient(wrapping: client).revealField(.with {
            $0.subjectID = subject
            $0.field = "iban"
            $0.reason = "refund"
          })
        }
      }
      let now = fixture.clock.now()
      func assess(_ build: (inout Privacy_Gateway_V1_AssessBreachRequest) -> Void) async throws -> Privacy_Gateway_V1_AssessBreachResponse {
        var request = Privacy_Gateway_V1_AssessBreachRequest.with {
          $0.from = now.addingTimeInterval(-3600).protoTimestamp
          $0.to = now.addingTimeInterval(3600).protoTimestamp
        }
        build(&request)
        return try await asRole("auditor", port: port) { client async throws in
          try await AdminClient(wrapping: client).assessBreach(request)
        }
      }

      let billing = try await assess { $0.actors = ["billing@test"] }
      #expect(billing.subjectsAffected == 3 && billing.recordsAffected == 3)
      #expect(billing.categories.map(\.field) == ["iban"] && billing.categories.first?.classification == .sensitive)
      #expect(!billing.specialCategoriesAffected && !billing.encryptedOutOfScope)
      let draft = try #require(try JSONSerialization.jsonObject(with: Data(billing.draftNotification.utf8)) as? [String: Any])
      let nature = try #require((draft["article_33_3"] as? [String: Any])?["a_nature_of_the_breach"] as? [String: Any])
      #expect(nature["approximate_number_of_data_subjects"] as? Int == 3 && nature["actors"] as? [String] == ["billing@test"])
      #expect((draft["article_34"] as? [String: Any])?["communication_to_data_subjects_required"] as? Bool == true)
      #expect(!billing.draftNotification.contains(TestData.iban))

      // The dpo's reveal of a health field is special-category data; its CreateContact answers
      // showed the personal fields in clear.
      let dpo = try await assess { $0.actors = ["dpo@test"] }
      #expect(dpo.specialCategoriesAffected && dpo.subjectsAffected == 3)
      #expect(Set(dpo.categories.map(\.field)).isSuperset(of: ["diagnosis", "email", "name"]))
      let onlyHealth = try await assess {
        $0.actors = ["dpo@test"]
        $0.fields = ["diagnosis"]
      }
      #expect(onlyHealth.subjectsAffected == 1 && onlyHealth.recordsAffected == 1 && onlyHealth.specialCategoriesAffected)

      // Marketing read two records in one GetRecords: its entry counts them without naming them,
      // so they are counted apart, each as another person, with the fields marketing sees in clear.
      let batch = try await asRole("marketing", port: port) { client async throws in
        try await VaultClient(wrapping: client).getRecords(.with { $0.subjectIds = ["b-1", "b-2"] })
      }
      #expect(batch.results.allSatisfy { $0.hasRecord })
      let marketing = try await assess { $0.actors = ["marketing@test"] }
      #expect(marketing.subjectsUnattributed == 2 && marketing.subjectsAffected == 2 && marketing.recordsAffected == 8)
      #expect(marketing.categories.map(\.field) == ["email", "name", "phone", "segment"])
      let batchDraft = try #require(try JSONSerialization.jsonObject(with: Data(marketing.draftNotification.utf8)) as? [String: Any])
      let batchNature = try #require((batchDraft["article_33_3"] as? [String: Any])?["a_nature_of_the_breach"] as? [String: Any])
      #expect(batchNature["data_subjects_read_in_batches_not_named_by_the_logs"] as? Int == 2)
      #expect(billing.subjectsUnattributed == 0)

      // A window with nothing seen: the stored values stay encrypted unless their key is in scope.
      let quiet = try await assess { $0.to = now.addingTimeInterval(-1800).protoTimestamp }
      #expect(quiet.subjectsAffected == 0 && quiet.encryptedOutOfScope)
      let keyStolen = try await assess {
        $0.to = now.addingTimeInterval(-1800).protoTimestamp
        $0.keyIds = ["default"]
      }
      #expect(!keyStolen.encryptedOutOfScope && keyStolen.draftNotification.contains("RotateMasterKey"))

      let inverted = await capturedRPCError { try await assess { $0.to = now.addingTimeInterval(-7200).protoTimestamp } }
      #expect(inverted?.code == .invalidArgument)
      let missing = await capturedRPCError { try await assess { $0.clearFrom() } }
      #expect(missing?.code == .invalidArgument)

      // A checkpoint sent for verification that is malformed or signed by no key of this gateway.
      let malformed = await capturedRPCError {
        try await asRole("auditor", port: port) { client async throws in
          try await AdminClient(wrapping: client).verifyAudit(.with { $0.checkpoints = [.with { $0.sequence = 1; $0.hash = "short" }] })
        }
      }
      #expect(malformed?.code == .invalidArgument)
      let foreign = await capturedRPCError {
        try await asRole("auditor", port: port) { client async throws in
          try await AdminClient(wrapping: client).verifyAudit(.with {
            $0.checkpoints = [.with {
              $0.sequence = 1
              $0.hash = String(repeating: "a", count: 64)
              $0.signedAt = now.protoTimestamp
              $0.signature = Data(repeating: 1, count: 64)
              $0.publicKey = Data(repeating: 2, count: 32)
            }]
          })
        }
      }
      #expect(foreign?.code == .invalidArgument)
    }
  }
}
