import Foundation
import GRPCCore
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Testing
import ZIPFoundation

/// The files of a zip, by name.
func unzip(_ data: Data) throws -> [String: Data] {
  let archive = try Archive(data: data, accessMode: .read)
  var files: [String: Data] = [:]
  for entry in archive {
    var content = Data()
    _ = try archive.extract(entry) { content.append($0) }
    files[entry.path] = content
  }
  return files
}

@Suite("Workflows: access, portability, rectification, restriction, objection, art 22, notification, withdrawal, retention")
struct RightsWorkflowTests {
  @Test("ACCESS: a zip with JSON and CSV holding every field written at creation, consents, ledger, requests, purposes, recipients, rights")
  func access() async throws {
    let fixture = try GatewayFixture()
    try await fixture.run { port, backends async throws in
      try await WorkflowData.seed(backends)
      try await asRole("dpo", port: port) { client async throws in
        let admin = AdminClient(wrapping: client)
        // Still waiting for the double opt-in: a pending record is unusable, but it is personal data
        // held, so access (art 15) includes all of it.
        let created = try await admin.createContact(WorkflowData.webformContact(marketingBox: true))
        #expect(created.pending)
        let subject = created.subjectID
        let requestID = try await WorkflowData.openVerified(client, subject: subject, right: .access)
        let executed = try await admin.executeRequest(.with { $0.requestID = requestID })
        #expect(executed.status == .completed && executed.steps.map(\.name) == ["bundle_built"])
        #expect(executed.artifact.mediaType == "application/zip" && executed.artifact.fileName == "access-\(requestID).zip")

        // The bundle holds IBAN and diagnosis in clear: the dpo (REVEAL on sensitive fields) is
        // refused all of it; the delivery role (CLEAR on every field) gets it, audited.
        let refused = await capturedRPCError { try await RightsClient(wrapping: client).getArtifact(.with { $0.requestID = requestID }) }
        #expect(refused?.code == .permissionDenied && refused?.message.contains("diagnosis, iban") == true)
        #expect(refused.map { !$0.message.contains(TestData.iban) } == true)
        let artifact = try await asRole("delivery", port: port) { delivery async throws in
          try await RightsClient(wrapping: delivery).getArtifact(.with { $0.requestID = requestID }).artifact
        }
        let delivered = try await admin.listAudit(.with { $0.method = "privacy.rights.v1.SubjectRightsService/GetArtifact" }).entries
        #expect(delivered.first?.actor == "delivery@test" && delivered.first?.fieldsRevealed.contains("iban") == true)
        #expect(delivered.dropFirst().first?.actor == "dpo@test" && delivered.dropFirst().first?.statusCode == 7)
        let files = try unzip(artifact.content)
        #expect(Set(files.keys) == [
          "data.json", "personal_data.csv", "consent_state.csv", "consent_ledger.csv", "subscriptions.csv", "requests.csv",
          "purposes.csv", "recipients.csv", "rights_statement.txt",
        ])
        let json = String(decoding: files["data.json"] ?? Data(), as: UTF8.self)
        let csv = String(decoding: files["personal_data.csv"] ?? Data(), as: UTF8.self)
        for (field, value) in WorkflowData.contactValues {
          #expect(json.contains("\"\(value)\""), "data.json lacks \(field)")
          #expect(csv.contains(value), "personal_data.csv lacks \(field)")
        }
        let document = try #require(try JSONSerialization.jsonObject(with: files["data.json"]!) as? [String: Any])
        let consent = try #require(document["consent"] as? [String: Any])
        #expect((consent["ledger"] as? [Any])?.count == 6)  // 4 decisions, opt-in, double opt-in started
        #expect(document["email_opt_in_status"] as? String == "OPT_IN_STATUS_SINGLE_OPT_IN_WEBFORM")
        #expect((document["purposes"] as? [[String: Any]])?.map { $0["purpose_id"] as? String } == ["analytics", "newsletter", "partners", "scoring", "storage"])
        #expect((document["recipients"] as? [[String: Any]])?.first?["name"] as? String == "ACME Ads")
        #expect((document["requests"] as? [[String: Any]])?.first?["request_id"] as? String == requestID)
        #expect(String(decoding: files["purposes.csv"] ?? Data(), as: UTF8.self).contains("LEGAL_BASIS_LEGITIMATE_INTERESTS"))
        #expect(String(decoding: files["rights_statement.txt"] ?? Data(), as: UTF8.self).contains("art 77"))

        // The export is audited as revealing the fields put in clear.
        let entry = try await admin.listAudit(.with { $0.method = "privacy.gateway.v1.AdminService/ExecuteRequest" }).entries.first
        #expect(entry?.fieldsRevealed.contains("iban") == true)
      }
    }
  }

  @Test("WithdrawConsent: storage erases and locks its fields, marketing opts out, sharing lists recipients, non-consent refused")
  func withdrawConsent() async throws {
    let fixture = try GatewayFixture()
    try await fixture.run { port, backends async throws in
      try await WorkflowData.seed(backends)
      try await asRole("dpo", port: port) { client async throws in
        let admin = AdminClient(wrapping: client)
        let subject = try await admin.createContact(WorkflowData.webformContact()).subjectID
        let storage = try await admin.withdrawConsent(.with {
          $0.subjectID = subject
          $0.purposeID = "storage"
        })
        #expect(storage.category == .dataStorage && storage.erasedLockedFields == ["diagnosis", "iban"] && !storage.alreadyWithdrawn)
        let record = try await VaultClient(wrapping: client).getRecord(.with { $0.subjectID = subject }).record
        #expect(record.fields.first { $0.name == "iban" }?.locked == true && record.fields.first { $0.name == "iban" }?.value == "")
        let again = try await admin.withdrawConsent(.with {
          $0.subjectID = subject
          $0.purposeID = "storage"
        })
        #expect(again.alreadyWithdrawn && again.eventSequence == storage.eventSequence)

        // Writing a locked field is refused; granting storage again unlocks it.
        var rewrite = WorkflowData.webformContact()
        rewrite.subjectID = subject
        rewrite.consents = []
        let locked = await capturedRPCError { try await admin.createContact(rewrite) }
        #expect(locked?.code == .failedPrecondition && locked?.errorInfoReason == "FIELD_LOCKED")
        rewrite.consents = [.with {
          $0.purposeID = "storage"
          $0.decision = .granted
        }]
        _ = try await admin.createContact(rewrite)

        // Storage consent recorded directly (not through CreateContact) unlocks the fields too,
        // once the consent reactor has followed the ledger.
        _ = try await admin.withdrawConsent(.with {
          $0.subjectID = subject
          $0.purposeID = "storage"
        })
        let relocked = try await VaultClient(wrapping: client).getRecord(.with { $0.subjectID = subject }).record
        #expect(relocked.fields.first { $0.name == "iban" }?.locked == true)
        _ = try await ConsentClient(wrapping: client).recordConsent(.with {
          $0.subjectID = subject
          $0.purposeID = "storage"
          $0.decision = .granted
          $0.evidence = .with { $0.channel = .preferencePage }
        })
        #expect(try await eventually {
          let unlocked = try await VaultClient(wrapping: client).getRecord(.with { $0.subjectID = subject }).record
          return unlocked.fields.first { $0.name == "iban" }?.locked != true
        })

        let newsletter = try await admin.withdrawConsent(.with {
          $0.subjectID = subject
          $0.purposeID = "newsletter"
        })
        #expect(newsletter.optedOut && newsletter.optInStatus == .optOutContact)
        let partners = try await admin.withdrawConsent(.with {
          $0.subjectID = subject
          $0.purposeID = "partners"
        })
        #expect(partners.recipientsToNotify.map(\.recipient.recipientID) == ["acme-ads"])
        #expect(partners.recipientsToNotify.first?.notice.contains("withdrawn") == true)
        let check = try await ConsentClient(wrapping: client).checkConsent(.with {
          $0.subjectID = subject
          $0.purposeID = "partners"
        })
        #expect(!check.allowed && check.reason == .withdrawn)

        let notConsent = await capturedRPCError {
          try await admin.withdrawConsent(.with {
            $0.subjectID = subject
            $0.purposeID = "analytics"
          })
        }
        #expect(notConsent?.code == .failedPrecondition && notConsent?.errorInfoReason == "NOT_CONSENT_BASED")
        #expect(notConsent?.errorInfo?.metadata["legal_basis"] == "LEGAL_BASIS_LEGITIMATE_INTERESTS")
        let unknown = await capturedRPCError {
          try await admin.withdrawConsent(.with {
            $0.subjectID = "nobody"
            $0.purposeID = "newsletter"
          })
        }
        #expect(unknown?.code == .notFound)
      }
    }
  }

  @Test("BulkUpdate granting storage unlocks (through the reactor) the fields of exactly the subjects it updated, by ids or by filter")
  func bulkGrantUnlocks() async throws {
    let fixture = try GatewayFixture()
    try await fixture.run { port, backends async throws in
      try await WorkflowData.seed(backends)
      try await asRole("dpo", port: port) { client async throws in
        let admin = AdminClient(wrapping: client)
        let consent = ConsentClient(wrapping: client)
        let vault = VaultClient(wrapping: client)
        var subjects: [String] = []
        for index in 1...3 {
          var contact = WorkflowData.webformContact()
          contact.subjectID = "bulk-\(index)"
          subjects.append(try await admin.createContact(contact).subjectID)
          _ = try await admin.withdrawConsent(.with {
            $0.subjectID = contact.subjectID
            $0.purposeID = "storage"
          })
        }
        // Whether each subject's storage field (iban) is locked.
        func locks() async throws -> [Bool] {
          var locked: [Bool] = []
          for subject in subjects {
            let record = try await vault.getRecord(.with { $0.subjectID = subject }).record
            locked.append(record.fields.first { $0.name == "iban" }?.locked == true)
          }
          return locked
        }
        func grant(_ selector: Privacy_Consent_V1_BulkUpdateRequest.OneOf_Selector) async throws -> UInt64 {
          try await consent.bulkUpdate(.with {
            $0.selector = selector
            $0.purposeID = "storage"
            $0.decision = .granted
            $0.evidence = .with { $0.channel = .manual }
            $0.reason = "re-permission letters returned signed"
          }).updatedCount
        }
        #expect(try await locks() == [true, true, true])

        #expect(try await grant(.subjectIds(.with { $0.subjectIds = ["bulk-1"] })) == 1)
        #expect(try await eventually { try await locks() == [false, true, true] })

        // The filter picks the two still withdrawn.
        let byFilter = try await grant(.filter(.with {
          $0.purposeID = "storage"
          $0.decisions = [.withdrawn]
        }))
        #expect(byFilter == 2)
        #expect(try await eventually { try await locks() == [false, false, false] })
        // The fields are writable again.
        _ = try await vault.putRecord(.with {
          $0.subjectID = "bulk-2"
          $0.values = ["iban": "DE02120300000000202051"]
          $0.source = .with { $0.channel = .manual }
        })
      }
    }
  }

  @Test("StopProcessing restricts vault and consent through a completed RESTRICTION request; ResumeProcessing lifts it")
  func stopAndResume() async throws {
    let fixture = try GatewayFixture()
    try await fixture.run { port, backends async throws in
      try await WorkflowData.seed(backends)
      try await asRole("dpo", port: port) { client async throws in
        let admin = AdminClient(wrapping: client)
        let subject = try await admin.createContact(WorkflowData.webformContact()).subjectID
        let stopped = try await admin.stopProcessing(.with {
          $0.subjectID = subject
          $0.reason = "accuracy contested by the subject"
        })
        #expect(!stopped.alreadyRestricted && stopped.steps.map(\.name) == ["vault_restrict", "consent_restrict", "recipients_listed", "recipients_notified"])
        let request = try await RightsClient(wrapping: client).getRequest(.with { $0.requestID = stopped.restrictionRequestID }).request
        #expect(request.right == .restriction && request.status == .completed && request.origin == .controller)
        let record = try await VaultClient(wrapping: client).getRecord(.with { $0.subjectID = subject }).record
        #expect(record.restricted && record.restrictionReason == "accuracy contested by the subject")
        // Support (no read_restricted) sees none of a restricted record's personal fields.
        let supportView = try await asRole("support", port: port) { support async throws in
          try await VaultClient(wrapping: support).getRecord(.with { $0.subjectID = subject })
        }
        #expect(supportView.record.restricted && supportView.record.fields.allSatisfy { $0.classification == .none })
        #expect(supportView.withheldFields.contains("email") && supportView.withheldFields.contains("name"))
        let consent = ConsentClient(wrapping: client)
        let campaign = try await consent.checkEmailEligibility(.with {
          $0.subjectID = subject
          $0.messageKind = .workflow
        })
        let reply = try await consent.checkEmailEligibility(.with {
          $0.subjectID = subject
          $0.messageKind = .reply
        })
        #expect(!campaign.allowed && reply.allowed)

        let twice = try await admin.stopProcessing(.with {
          $0.subjectID = subject
          $0.reason = "again"
        })
        #expect(twice.alreadyRestricted && twice.restrictionRequestID == stopped.restrictionRequestID)

        let resumed = try await admin.resumeProcessing(.with {
          $0.subjectID = subject
          $0.reason = "accuracy verified; subject informed"
        })
        #expect(resumed.wasRestricted && resumed.restrictionRequestID == stopped.restrictionRequestID)
        let after = try await VaultClient(wrapping: client).getRecord(.with { $0.subjectID = subject }).record
        #expect(!after.restricted)
        let notRestricted = try await admin.resumeProcessing(.with {
          $0.subjectID = subject
          $0.reason = "again"
        })
        #expect(!notRestricted.wasRestricted)
        let audited = try await admin.listAudit(.with { $0.method = "privacy.gateway.v1.AdminService/ResumeProcessing" }).entries
        #expect(audited.map(\.reason).contains("accuracy verified; subject informed"))
      }
    }
  }

  @Test("RECTIFICATION, OBJECTION, AUTOMATED_DECISION and NOTIFICATION run to completion with their end state in every backend")
  func otherRights() async throws {
    let fixture = try GatewayFixture()
    try await fixture.run { port, backends async throws in
      try await WorkflowData.seed(backends)
      try await asRole("dpo", port: port) { client async throws in
        let admin = AdminClient(wrapping: client)
        let consent = ConsentClient(wrapping: client)
        let subject = try await admin.createContact(WorkflowData.webformContact()).subjectID

        let rectification = try await WorkflowData.openVerified(client, subject: subject, right: .rectification, details: .with {
          $0.rectification = .with { $0.changes = ["name": "Ada King", "phone": ""] }
        })
        let rectified = try await admin.executeRequest(.with { $0.requestID = rectification })
        #expect(rectified.status == .completed && rectified.fieldsRectified == ["name", "phone"])
        // ACME Ads has no channel of its own: the controller tells it, and the step log says so.
        let told = try #require(rectified.steps.first { $0.name == "recipients_notified" })
        #expect(told.status == .done && told.detail.contains("\"channel\":\"MANUAL\""))
        let record = try await VaultClient(wrapping: client).getRecord(.with { $0.subjectID = subject }).record
        #expect(record.fields.first { $0.name == "name" }?.value == "Ada King")
        #expect(record.fields.first { $0.name == "phone" } == nil)

        let objection = try await WorkflowData.openVerified(client, subject: subject, right: .objection, details: .with {
          $0.objection = .with {
            $0.purposeIds = ["analytics"]
            $0.directMarketing = true
          }
        })
        let objected = try await admin.executeRequest(.with { $0.requestID = objection })
        #expect(objected.purposesWithdrawn == ["analytics", "newsletter"])
        let analytics = try await consent.checkConsent(.with {
          $0.subjectID = subject
          $0.purposeID = "analytics"
        })
        #expect(!analytics.allowed && analytics.reason == .objected)
        let state = try await consent.getConsentState(.with { $0.subjectID = subject }).state
        #expect(state.optInStatus == .optOutContact)

        let automated = try await WorkflowData.openVerified(client, subject: subject, right: .automatedDecision)
        let reviewed = try await admin.executeRequest(.with { $0.requestID = automated })
        #expect(reviewed.purposesWithdrawn == ["scoring"] && reviewed.humanReviewFlagged)
        let flagged = try await VaultClient(wrapping: client).getRecord(.with { $0.subjectID = subject }).record
        #expect(flagged.humanReview)

        let notification = try await WorkflowData.openVerified(client, subject: subject, right: .notification)
        let notified = try await admin.executeRequest(.with { $0.requestID = notification })
        #expect(notified.status == .completed && notified.recipientsToNotify.map(\.recipient.recipientID) == ["acme-ads"])
        let stored = try await RightsClient(wrapping: client).getRequest(.with { $0.requestID = notification }).request
        #expect(stored.recipientsNotified.map(\.recipientID) == ["acme-ads"])

        // Art 19, last sentence: the person's access bundle says who was told of the rectification.
        let access = try await WorkflowData.openVerified(client, subject: subject, right: .access)
        _ = try await admin.executeRequest(.with { $0.requestID = access })
        let artifact = try await asRole("delivery", port: port) { delivery async throws in
          try await RightsClient(wrapping: delivery).getArtifact(.with { $0.requestID = access }).artifact
        }
        let data = try #require(try unzip(artifact.content)["data.json"])
        let document = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let requests = try #require(document["requests"] as? [[String: Any]])
        let entry = try #require(requests.first { $0["request_id"] as? String == rectification })
        #expect((entry["recipients_notified"] as? [[String: Any]])?.map { $0["recipient_id"] as? String } == ["acme-ads"])
      }
    }
  }

  @Test("RunRetentionSweep erases every subject due, and a second run does nothing")
  func retentionSweep() async throws {
    let fixture = try GatewayFixture()
    try await fixture.run { port, backends async throws in
      try await WorkflowData.seed(backends)
      try await asRole("dpo", port: port) { client async throws in
        let admin = AdminClient(wrapping: client)
        let rights = RightsClient(wrapping: client)
        var stale = WorkflowData.webformContact()
        stale.source.evidence.capturedAt = Date().addingTimeInterval(-86_400 * 400).protoTimestamp
        let old = try await admin.createContact(stale).subjectID
        var freshValues = WorkflowData.contactValues
        freshValues["email"] = "grace@example.org"
        freshValues["phone"] = "+44 20 7946 0958"
        freshValues["national_id"] = "ZX998877A"
        let fresh = try await admin.createContact(WorkflowData.webformContact(values: freshValues)).subjectID
        _ = try await rights.upsertRetentionPolicy(.with {
          $0.name = "inactive-contacts"
          $0.inactivityDays = 365
          $0.scope = "all"
        })
        let first = try await admin.runRetentionSweep(.init())
        #expect(first.subjectsDue == 1 && first.requestsOpened == 1 && first.requestsCompleted == 1 && first.failures.isEmpty)
        let erased = try await VaultClient(wrapping: client).getRecord(.with { $0.subjectID = old }).record
        #expect(erased.erased)
        let kept = try await VaultClient(wrapping: client).getRecord(.with { $0.subjectID = fresh }).record
        #expect(!kept.erased)
        let requests = try await rights.listRequests(.with { $0.filter = .with { $0.subjectID = old } }).requests
        #expect(requests.count == 1 && requests.first?.origin == .retention && requests.first?.status == .completed)

        let second = try await admin.runRetentionSweep(.init())
        #expect(second.subjectsDue == 0 && second.requestsOpened == 0 && second.requestsCompleted == 0)

        // One audit entry names each subject the sweep erased, and why.
        let entries = try await admin.listAudit(.with { $0.method = "privacy.gateway.v1.AdminService/RunRetentionSweep" }).entries
        let erasures = entries.filter { $0.phase == .unspecified }
        #expect(erasures.map(\.subjectID) == [old] && erasures.first?.reason.contains("inactive-contacts") == true)
      }
    }
  }

  @Test("the gateway sweeps on its own every RETENTION_SWEEP_INTERVAL, auditing each subject it erases as the retention-sweep")
  func scheduledSweep() async throws {
    let fixture = try GatewayFixture()
    try await fixture.runBackends { backends async throws in
      try await WorkflowData.seed(backends)
      // Contacts and policy exist before the schedule starts (a gateway without one).
      let old = try await withRunningServer(try await fixture.gateway(backends: backends, extra: ["RETENTION_SWEEP_INTERVAL": "off"])) {
        port async throws in
        try await asRole("dpo", port: port) { client async throws in
          let admin = AdminClient(wrapping: client)
          var stale = WorkflowData.webformContact()
          stale.source.evidence.capturedAt = Date().addingTimeInterval(-86_400 * 400).protoTimestamp
          let old = try await admin.createContact(stale).subjectID
          // A member outside the policy's scope, whose storage purpose's 365 days ran out before
          // the schedule started: the first scheduled purpose retention reads every subject.
          stale.subjectID = "member-1"
          _ = try await admin.createContact(stale)
          _ = try await RightsClient(wrapping: client).upsertRetentionPolicy(.with {
            $0.name = "inactive-contacts"
            $0.inactivityDays = 365
            $0.scope = "prefix:sub-"
          })
          return old
        }
      }
      try await withRunningServer(try await fixture.gateway(backends: backends, extra: ["RETENTION_SWEEP_INTERVAL": "1s"])) {
        port async throws in
        try await asRole("dpo", port: port) { client async throws in
          let vault = VaultClient(wrapping: client)
          #expect(try await eventually(timeout: .seconds(20)) {
            try await vault.getRecord(.with { $0.subjectID = old }).record.erased
          })
          #expect(try await eventually(timeout: .seconds(20)) {
            let member = try await vault.getRecord(.with { $0.subjectID = "member-1" }).record
            return !member.erased && member.field("iban") == nil && member.field("email")?.value.isEmpty == false
          })
          #expect(try await eventually {
            try await AdminClient(wrapping: client).listAudit(.with { $0.subjectID = old; $0.actor = "gateway" }).entries
              .contains { $0.role == "retention-sweep" && $0.method == "privacy.gateway.v1.AdminService/RunRetentionSweep" }
          })
        }
      }
    }
  }
}
