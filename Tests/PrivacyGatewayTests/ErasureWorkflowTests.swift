import Foundation
import GRPCCore
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Testing

@Suite("Workflows: contact creation, erasure and the re-entry check")
struct ErasureWorkflowTests {
  @Test("a webform contact gets its record, consents and an engagement date; a retry records nothing twice")
  func createContact() async throws {
    let fixture = try GatewayFixture()
    try await fixture.run { port, backends async throws in
      try await WorkflowData.seed(backends)
      let created = try await asRole("dpo", port: port) { client async throws in
        try await AdminClient(wrapping: client).createContact(WorkflowData.webformContact())
      }
      #expect(created.subjectID.hasPrefix("sub-"))
      #expect(created.reentryOutcome == .noMatch)
      #expect(created.consentEvents.map(\.purposeID) == ["storage", "newsletter", "partners", "scoring"])
      #expect(created.consentEvents.allSatisfy { $0.evidence.channel == .webform && $0.evidence.formName == "signup" && $0.sequence > 0 })
      // No marketing box: no opt-in and nothing to wait for (DoubleOptInHoldTests has the box ticked).
      #expect(created.optInStatus == .unspecified && created.doubleOptInMessageID.isEmpty && !created.pending)
      // The DPO sees personal fields in clear and sensitive ones masked (REVEAL).
      #expect(created.fields.first { $0.name == "email" }?.value == "ada@example.org")
      #expect(created.fields.first { $0.name == "iban" }?.masked == true)
      #expect(created.steps.map(\.name) == ["blocklist_checked", "vault_record_written", "consents_recorded", "opt_in_status_set", "engagement_recorded"])

      // The support role sees the same answer filtered for it, and a retry records nothing twice.
      let retried = try await asRole("service", port: port) { client async throws in
        var request = WorkflowData.webformContact()
        request.subjectID = created.subjectID
        return try await AdminClient(wrapping: client).createContact(request)
      }
      #expect(retried.consentEvents.map(\.sequence) == created.consentEvents.map(\.sequence))

      try await withTestClient(port: backends[.rights]!) { client async throws in
        let due = try await RightsClient(wrapping: client).listDueForRetention(.with {
          $0.now = Date().addingTimeInterval(86_400 * 400).protoTimestamp
        })
        #expect(due.due.isEmpty)  // no policy yet, but the engagement is stored: see the retention test
      }
    }
  }

  @Test("bad CreateContact input is refused before anything is written")
  func createContactBadInput() async throws {
    let fixture = try GatewayFixture()
    try await fixture.run { port, backends async throws in
      try await WorkflowData.seed(backends)
      try await asRole("dpo", port: port) { client async throws in
        let admin = AdminClient(wrapping: client)
        var unknownField = WorkflowData.webformContact()
        unknownField.values["shoe_size"] = "42"
        var badIP = WorkflowData.webformContact()
        badIP.source.evidence.ipAddress = "999.1.1.1"
        var ownNotWebform = WorkflowData.webformContact(ownWebform: true)
        ownNotWebform.source.evidence.channel = .import
        var unknownPurpose = WorkflowData.webformContact()
        unknownPurpose.consents[0].purposeID = "nope"
        let cases: [(Privacy_Gateway_V1_CreateContactRequest, RPCError.Code, String)] = [
          (unknownField, .invalidArgument, "values names unknown field shoe_size"),
          (badIP, .invalidArgument, "source.evidence.ip_address must be an IPv4 or IPv6 address"),
          (ownNotWebform, .invalidArgument, "own_webform_submission needs source.evidence.channel WEBFORM"),
          (unknownPurpose, .notFound, "unknown purpose nope"),
        ]
        for (index, (request, code, message)) in cases.enumerated() {
          var request = request
          request.subjectID = "bad-\(index)"
          let error = await capturedRPCError { try await admin.createContact(request) }
          #expect(error?.code == code && error?.message == message, "\(String(describing: error))")
          let record = await capturedRPCError {
            try await VaultClient(wrapping: client).getRecord(.with { $0.subjectID = "bad-\(index)" })
          }
          #expect(record?.code == .notFound)
        }
      }
    }
  }

  @Test("ERASURE end to end: blocklisted, vault and consent erased, evidence without personal data, re-entry refused")
  func erasure() async throws {
    let fixture = try GatewayFixture()
    try await fixture.run { port, backends async throws in
      try await WorkflowData.seed(backends)
      try await asRole("dpo", port: port) { client async throws in
        let admin = AdminClient(wrapping: client)
        let subject = try await admin.createContact(WorkflowData.webformContact()).subjectID
        let requestID = try await WorkflowData.openVerified(client, subject: subject, right: .erasure)

        let executed = try await admin.executeRequest(.with { $0.requestID = requestID })
        #expect(executed.status == .completed && executed.right == .erasure && !executed.resumed)
        #expect(executed.steps.map(\.name) == ["blocklist_identifiers", "vault_erase", "consent_erase", "recipients_listed", "recipients_notified"])
        #expect(executed.steps.allSatisfy { $0.status == .done })
        let evidence = executed.erasureEvidence
        #expect(evidence.identifiersBlocklisted == 3)
        #expect(evidence.fieldsErased == ["diagnosis", "email", "iban", "name", "national_id", "phone"])
        #expect(evidence.dataKeyDestroyed && evidence.hasErasedAt)
        #expect(evidence.kAnonymity.outcome == .noQuasiIdentifiers)
        #expect(executed.recipientsToNotify.map(\.recipient.recipientID) == ["acme-ads"])

        // Nothing personal in the stored request (outcome, step details).
        let stored = try await RightsClient(wrapping: client).getRequest(.with { $0.requestID = requestID }).request
        let storedText = stored.outcome + stored.steps.map { $0.detail + $0.lastError }.joined()
        for value in WorkflowData.contactValues.values where value != "gold" {
          #expect(!storedText.contains(value), "request holds \(value)")
        }
        #expect(stored.recipientsNotified.map(\.recipientID) == ["acme-ads"])

        let record = try await VaultClient(wrapping: client).getRecord(.with { $0.subjectID = subject }).record
        #expect(record.erased)
        #expect(record.fields.filter { $0.classification != .none }.allSatisfy { $0.value.isEmpty })
        #expect(record.fields.first { $0.name == "segment" }?.value == "gold")

        let again = await capturedRPCError { try await admin.createContact(WorkflowData.webformContact()) }
        #expect(again?.code == .failedPrecondition && again?.errorInfoReason == "SUBJECT_PREVIOUSLY_ERASED")
        let metadata = again?.errorInfo?.metadata ?? [:]
        #expect(Set(metadata.keys) == ["erased_at", "reason"])
        #expect(metadata["reason"] == "art 17 erasure, request \(requestID)")

        // A PutRecord that would create a person runs the same check and writes nothing; one
        // creating a person with other identifiers, or updating an existing record, goes through.
        let vault = VaultClient(wrapping: client)
        func put(_ subject: String, email: String) async throws -> Privacy_Vault_V1_PutRecordResponse {
          try await vault.putRecord(.with {
            $0.subjectID = subject
            $0.values = ["email": email, "segment": "silver"]
            $0.source = .with { $0.channel = .api }
          })
        }
        let erasedEmail = try #require(WorkflowData.contactValues["email"])
        let byPut = await capturedRPCError { try await put("newcomer", email: erasedEmail) }
        #expect(byPut?.code == .failedPrecondition && byPut?.errorInfoReason == "SUBJECT_PREVIOUSLY_ERASED")
        let notWritten = await capturedRPCError { try await vault.getRecord(.with { $0.subjectID = "newcomer" }) }
        #expect(notWritten?.code == .notFound)
        #expect(try await put("newcomer", email: "someone.else@example.org").created)
        #expect(try await !put("newcomer", email: "someone.else@example.org").created)
        let updateOnly = await capturedRPCError {
          try await vault.putRecord(.with {
            $0.subjectID = "nobody-yet"
            $0.values = ["segment": "silver"]
            $0.source = .with { $0.channel = .api }
            $0.updateOnly = true
          })
        }
        #expect(updateOnly?.code == .notFound)

        let ledger = try await ConsentClient(wrapping: client).verifyLedger(.init()).verification
        #expect(ledger.valid)

        // The audit names the subject of the executed request and of the generated contact.
        let audited = try await admin.listAudit(.with { $0.subjectID = subject }).entries.map(\.method)
        #expect(audited.contains("privacy.gateway.v1.AdminService/ExecuteRequest"))
        #expect(audited.contains("privacy.gateway.v1.AdminService/CreateContact"))

        // Executing a completed request runs nothing and answers the final state again.
        let repeated = try await admin.executeRequest(.with { $0.requestID = requestID })
        #expect(repeated.status == .completed && repeated.erasureEvidence == evidence && repeated.steps == executed.steps)

        // The person's own webform submission is a lawful re-entry: the entry goes.
        let back = try await admin.createContact(WorkflowData.webformContact(ownWebform: true))
        #expect(back.reentryOutcome == .removedOwnWebform && back.subjectID != subject)
      }
    }
  }

  @Test("a blocklist match is overridden only by a role allowed to, with a reason")
  func override() async throws {
    let fixture = try GatewayFixture()
    try await fixture.run { port, backends async throws in
      try await WorkflowData.seed(backends)
      try await withTestClient(port: backends[.blocklist]!) { client async throws in
        _ = try await BlocklistClient(wrapping: client).add(.with {
          $0.identifiers = [.with {
            $0.kind = .email
            $0.value = "ADA@example.org"
          }]
          $0.reason = "erased on request"
        })
      }
      var request = WorkflowData.webformContact()
      request.overrideReason = "contract signed again on paper"
      let denied = try await asRole("service", port: port) { client async throws in
        await capturedRPCError { try await AdminClient(wrapping: client).createContact(request) }
      }
      #expect(denied?.code == .permissionDenied && denied?.errorInfoReason == "BLOCKLIST_OVERRIDE_NOT_PERMITTED")
      let created = try await asRole("dpo", port: port) { client async throws in
        try await AdminClient(wrapping: client).createContact(request)
      }
      #expect(created.reentryOutcome == .overridden)
      let entry = try await asRole("dpo", port: port) { client async throws in
        try await AdminClient(wrapping: client).listAudit(.with {
          $0.method = "privacy.gateway.v1.AdminService/CreateContact"
          $0.statusCode = 0
        }).entries.first
      }
      #expect(entry?.reason == "contract signed again on paper" && entry?.actor == "dpo@test")
    }
  }

  @Test("ExecuteRequest refuses unverified and rejected requests, and an empty id")
  func refusals() async throws {
    let fixture = try GatewayFixture()
    try await fixture.run { port, backends async throws in
      try await WorkflowData.seed(backends)
      try await asRole("dpo", port: port) { client async throws in
        let admin = AdminClient(wrapping: client)
        let rights = RightsClient(wrapping: client)
        let empty = await capturedRPCError { try await admin.executeRequest(.init()) }
        #expect(empty?.code == .invalidArgument)
        let unknown = await capturedRPCError { try await admin.executeRequest(.with { $0.requestID = "nope" }) }
        #expect(unknown?.code == .notFound)
        let received = try await rights.openRequest(.with {
          $0.subjectID = "c-1"
          $0.right = .erasure
          $0.requesterEmail = "ada@example.org"
          $0.channel = .email
        }).request.requestID
        let notVerified = await capturedRPCError { try await admin.executeRequest(.with { $0.requestID = received }) }
        #expect(notVerified?.code == .failedPrecondition && notVerified?.errorInfoReason == "REQUEST_NOT_VERIFIED")
        #expect(notVerified?.errorInfo?.metadata["status"] == "REQUEST_STATUS_RECEIVED")
        _ = try await rights.rejectRequest(.with {
          $0.requestID = received
          $0.reason = "duplicate"
        })
        let rejected = await capturedRPCError { try await admin.executeRequest(.with { $0.requestID = received }) }
        #expect(rejected?.code == .failedPrecondition && rejected?.errorInfoReason == "REQUEST_REJECTED")
      }
    }
  }

  @Test("a permanent step failure leaves the request IN_PROGRESS with the error visible; the next run resumes")
  func permanentFailureThenResume() async throws {
    let fixture = try GatewayFixture()
    try await fixture.run { port, backends async throws in
      try await WorkflowData.seed(backends)
      try await asRole("dpo", port: port) { client async throws in
        let admin = AdminClient(wrapping: client)
        let subject = try await admin.createContact(WorkflowData.webformContact()).subjectID
        // A restricted record refuses erasure (art 18(1)(c)).
        _ = try await VaultClient(wrapping: client).setRestriction(.with {
          $0.subjectID = subject
          $0.restricted = true
          $0.reason = "legal claim pending"
        })
        let requestID = try await WorkflowData.openVerified(client, subject: subject, right: .erasure)
        let failed = await capturedRPCError { try await admin.executeRequest(.with { $0.requestID = requestID }) }
        #expect(failed?.code == .failedPrecondition && failed?.errorInfoReason == "WORKFLOW_STEP_FAILED")
        #expect(failed?.errorInfo?.metadata["step"] == "vault_erase")
        #expect(failed?.errorInfo?.metadata["request_id"] == requestID)

        let stored = try await RightsClient(wrapping: client).getRequest(.with { $0.requestID = requestID }).request
        #expect(stored.status == .inProgress)
        #expect(stored.steps.map(\.status) == [.done, .failed])
        #expect(stored.steps.last?.lastError.contains("RECORD_RESTRICTED") == true || stored.steps.last?.lastError.contains("restricted") == true)

        _ = try await VaultClient(wrapping: client).setRestriction(.with {
          $0.subjectID = subject
          $0.restricted = false
          $0.reason = "legal claim settled"
        })
        let resumed = try await admin.executeRequest(.with { $0.requestID = requestID })
        #expect(resumed.status == .completed && resumed.resumed)
        #expect(resumed.steps.first { $0.name == "blocklist_identifiers" }?.attempts == 1)
        #expect(resumed.steps.first { $0.name == "vault_erase" }?.attempts == 2)

        // Both runs are audited under the request's subject, the failed one with its status
        // (each run's intent entry, written before the subject was known, precedes its outcome).
        let entries = try await admin.listAudit(.with { $0.method = "privacy.gateway.v1.AdminService/ExecuteRequest" }).entries
        #expect(entries.map(\.phase) == [.outcome, .intent, .outcome, .intent])
        let audited = entries.filter { $0.phase == .outcome }
        #expect(audited.map(\.subjectID) == [subject, subject])
        #expect(audited.map(\.statusCode) == [0, Int32(RPCError.Code.failedPrecondition.rawValue)])
      }
    }
  }

  @Test("a backend down through every retry fails the call within its deadline with the step FAILED; the request resumes later")
  func backendDown() async throws {
    let fixture = try GatewayFixture()
    let requestID = try await fixture.run(down: [.vault]) { port, backends async throws in
      try await withTestClient(port: backends[.consent]!) { client async throws in
        for purpose in WorkflowData.purposes { _ = try await ConsentClient(wrapping: client).upsertPurpose(.with { $0.purpose = purpose }) }
      }
      return try await asRole("dpo", port: port) { client async throws in
        let requestID = try await WorkflowData.openVerified(client, subject: "c-down", right: .erasure)
        let start = ContinuousClock.now
        // Room for every retry even when the parallel test run loads the machine.
        var options = CallOptions.defaults
        options.timeout = .seconds(20)
        let error = await capturedRPCError {
          try await AdminClient(wrapping: client).executeRequest(.with { $0.requestID = requestID }, options: options)
        }
        // Refused connections give UNAVAILABLE; on a loaded machine the attempts may instead run
        // into the deadline. Either way the failure is recorded and the request stays open.
        #expect(error?.code == .unavailable || error?.code == .deadlineExceeded, "\(String(describing: error))")
        #expect(ContinuousClock.now - start < .seconds(30))
        let stored = try await RightsClient(wrapping: client).getRequest(.with { $0.requestID = requestID }).request
        #expect(stored.status == .inProgress)
        let step = stored.steps.first
        #expect(step?.status == .failed && (step?.lastError.hasPrefix("UNAVAILABLE") == true || step?.lastError.hasPrefix("DEADLINE_EXCEEDED") == true))
        return requestID
      }
    }
    // With the vault back, the same request resumes from its log and completes.
    try await fixture.run { port, _ async throws in
      let resumed = try await asRole("dpo", port: port) { client async throws in
        try await AdminClient(wrapping: client).executeRequest(.with { $0.requestID = requestID })
      }
      #expect(resumed.status == .completed)
      #expect(resumed.steps.first?.attempts == 2)
    }
  }
}
