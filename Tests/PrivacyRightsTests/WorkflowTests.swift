import Crypto
import Foundation
import GRPCCore
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Testing

@Suite("Status machine, step log and completion")
struct WorkflowTests {
  @Test("only a verified request with a subject starts; starting again changes nothing")
  func startProcessing() async throws {
    try await withRightsService { client, fixture async throws in
      let request = try await client.open(subject: "")
      try await expectRefused(client, .failedPrecondition, "ILLEGAL_TRANSITION") { _ = try await client.start(request.requestID) }
      let error = await capturedRPCError { try await client.start(request.requestID) }
      let info = try #require(try error?.unpackGoogleRPCStatus()?.details.compactMap(\.errorInfo).first)
      #expect(info.metadata["status"] == "REQUEST_STATUS_RECEIVED")
      try await expectRefused(client, .failedPrecondition, "ILLEGAL_TRANSITION") {
        _ = try await client.step(request.requestID, "read_identifiers", .running)
      }
      _ = try await client.verifyByStaff(request.requestID)
      try await expectRefused(client, .failedPrecondition, "SUBJECT_NOT_IDENTIFIED") { _ = try await client.start(request.requestID) }
      try await expectRefused(client, .invalidArgument) {
        _ = try await client.identifySubject(.with {
          $0.requestID = request.requestID
          $0.subjectID = "bad id!"
        })
      }
      let identified = try await client.identifySubject(.with {
        $0.requestID = request.requestID
        $0.subjectID = "c-7"
      }).request
      #expect(identified.subjectID == "c-7" && identified.status == .verified)
      try await expectRefused(client, .failedPrecondition, "SUBJECT_ALREADY_SET") {
        _ = try await client.identifySubject(.with {
          $0.requestID = request.requestID
          $0.subjectID = "c-8"
        })
      }
      fixture.clock.advance(by: 60)
      let started = try await client.start(request.requestID)
      #expect(started.status == .inProgress && started.startedAt.date == fixture.clock.now().microsecondPrecision)
      fixture.clock.advance(by: 60)
      #expect(try await client.start(request.requestID) == started)
    }
  }

  @Test("steps are idempotent per name, keep their order, count attempts and keep the last error")
  func steps() async throws {
    try await withRightsService { client, fixture async throws in
      let id = try await client.inProgress(right: .erasure).requestID
      let read = try await client.step(id, "read_identifiers", .running)
      #expect(read.sequence == 1 && read.attempts == 1 && read.hasStartedAt && !read.hasFinishedAt)
      _ = try await client.step(id, "blocklist_add", .pending)
      fixture.clock.advance(by: 5)
      let failed = try await client.step(id, "read_identifiers", .failed, detail: "vault down", error: "UNAVAILABLE: vault")
      #expect(failed.status == .failed && failed.lastError == "UNAVAILABLE: vault" && failed.hasFinishedAt && failed.attempts == 1)
      let retried = try await client.step(id, "read_identifiers", .running)
      #expect(retried.attempts == 2 && !retried.hasFinishedAt && retried.detail == "vault down")
      let same = try await client.step(id, "read_identifiers", .running)
      #expect(same == retried)  // same status, no detail: nothing changes
      let detailed = try await client.step(id, "read_identifiers", .running, detail: "3 identifiers")
      #expect(detailed.attempts == 2 && detailed.detail == "3 identifiers")
      let done = try await client.step(id, "read_identifiers", .done)
      #expect(done.status == .done && done.lastError == "UNAVAILABLE: vault" && done.sequence == 1)
      // Final: the same status again is a no-op, anything else is refused.
      fixture.clock.advance(by: 5)
      #expect(try await client.step(id, "read_identifiers", .done, detail: "ignored") == done)
      try await expectRefused(client, .failedPrecondition, "STEP_FINISHED") { try await client.step(id, "read_identifiers", .running) }
      try await expectRefused(client, .invalidArgument) { try await client.step(id, "blocklist_add", .failed) }
      try await expectRefused(client, .invalidArgument) { try await client.step(id, "blocklist_add", .done, error: "oops") }
      try await expectRefused(client, .invalidArgument) { try await client.step(id, "Bad Name", .done) }
      try await expectRefused(client, .invalidArgument) { try await client.step(id, "blocklist_add", .unspecified) }
      try await expectRefused(client, .invalidArgument) {
        try await client.step(id, "blocklist_add", .done, detail: String(repeating: "d", count: 8001))
      }
      try await expectRefused(client, .notFound) { try await client.step("ghost", "blocklist_add", .done) }
      let request = try await client.get(id)
      #expect(request.steps.map(\.name) == ["read_identifiers", "blocklist_add"])
      #expect(request.steps.map(\.sequence) == [1, 2])
    }
  }

  @Test("completion needs every step finished, and an artifact for access and portability")
  func completion() async throws {
    try await withRightsService { client, fixture async throws in
      _ = try await client.upsertRecipient(.with {
        $0.recipientID = "acme-mail"
        $0.name = "ACME Mailing GmbH"
        $0.contact = "privacy@acme.example"
        $0.purposeIds = ["newsletter"]
      })
      let id = try await client.inProgress(right: .access).requestID
      try await client.step(id, "export_vault", .running)
      try await client.step(id, "export_consent", .skipped)
      try await expectRefused(client, .failedPrecondition, "STEPS_UNFINISHED") { _ = try await client.complete(id, artifact: exportBundle(10)) }
      try await client.step(id, "export_vault", .done)
      try await expectRefused(client, .failedPrecondition, "ARTIFACT_REQUIRED") { _ = try await client.complete(id) }
      try await expectRefused(client, .invalidArgument) { _ = try await client.complete(id, outcome: "", artifact: exportBundle(10)) }
      try await expectRefused(client, .invalidArgument) {
        _ = try await client.complete(id, outcome: String(repeating: "o", count: 65_537), artifact: exportBundle(10))
      }
      var noType = exportBundle(10)
      noType.mediaType = ""
      try await expectRefused(client, .invalidArgument) { _ = try await client.complete(id, artifact: noType) }
      var badName = exportBundle(10)
      badName.fileName = "../../etc/passwd"
      try await expectRefused(client, .invalidArgument) { _ = try await client.complete(id, artifact: badName) }
      try await expectRefused(client, .resourceExhausted) { _ = try await client.complete(id, artifact: exportBundle(3 * 1024 * 1024 + 1)) }
      try await expectRefused(client, .notFound) {
        _ = try await client.complete(id, artifact: exportBundle(10), recipients: [.with {
          $0.recipientID = "ghost"
          $0.summary = "told"
        }])
      }
      try await expectRefused(client, .invalidArgument) {
        _ = try await client.complete(id, artifact: exportBundle(10), recipients: [.with { $0.recipientID = "acme-mail" }])
      }

      fixture.clock.advance(by: 60)
      let bundle = exportBundle(3 * 1024 * 1024)
      let completed = try await client.complete(id, outcome: "{\"fields\": 12}", artifact: bundle, recipients: [.with {
        $0.recipientID = "acme-mail"
        $0.summary = "access request answered; no action needed"
      }])
      let now = fixture.clock.now().microsecondPrecision
      #expect(completed.status == .completed && completed.closedAt.date == now && completed.outcome == "{\"fields\": 12}")
      #expect(completed.artifact.sizeBytes == Int64(bundle.content.count) && completed.artifact.mediaType == "application/zip")
      #expect(completed.artifact.expiresAt.date == now.addingTimeInterval(30 * 86_400) && !completed.artifact.purged)
      #expect(completed.recipientsNotified.count == 1 && completed.recipientsNotified[0].recipientName == "ACME Mailing GmbH")
      #expect(completed.recipientsNotified[0].notifiedAt.date == now)

      let artifact = try await client.getArtifact(.with { $0.requestID = id }).artifact
      #expect(artifact.content == bundle.content && artifact.fileName == "access.zip")
      #expect(artifact.sha256 == SHA256Hex.of(bundle.content) && artifact.sha256 == completed.artifact.sha256)
      let completion = try #require(try await client.pendingOutbox().first { $0.kind == .completed })
      #expect(completion.requestID == id && completion.recipientEmail == "anna@example.com")

      // Closed for good.
      for (name, call) in closedCalls(client, id) {
        let error = await capturedRPCError { try await call() }
        #expect(error?.code == .failedPrecondition && error?.errorInfoReason == "REQUEST_CLOSED", "\(name)")
      }
    }
  }

  private func closedCalls(_ client: RightsClient, _ id: String) -> [(String, () async throws -> Void)] {
    [
      ("start", { _ = try await client.start(id) }),
      ("step", { try await client.step(id, "late", .running) }),
      ("complete", { _ = try await client.complete(id, artifact: exportBundle(1)) }),
      ("reject", { _ = try await client.rejectRequest(.with { $0.requestID = id; $0.reason = "late" }) }),
      ("extend", { _ = try await client.extendDeadline(.with { $0.requestID = id; $0.months = 1; $0.reason = "late" }) }),
      ("verify", { _ = try await client.verifyByStaff(id) }),
      ("identify", { _ = try await client.identifySubject(.with { $0.requestID = id; $0.subjectID = "x" }) }),
    ]
  }

  @Test("a completed access request mails a one-time download link: a wrong token is refused, the right one works once, an unused one expires")
  func downloadLink() async throws {
    try await withRightsService { client, fixture async throws in
      func download(_ id: String, _ token: String) async throws -> Privacy_Rights_V1_Artifact {
        try await client.getArtifact(.with { $0.requestID = id; $0.downloadToken = token }).artifact
      }
      let bundle = exportBundle(2000)
      let id = try await client.inProgress(right: .access).requestID
      let completed = try await client.complete(id, artifact: bundle)
      let now = fixture.clock.now().microsecondPrecision
      #expect(completed.artifact.downloadExpiresAt.date == now.addingTimeInterval(7 * 86_400) && !completed.artifact.hasDownloadedAt)
      let notice = try #require(try await client.pendingOutbox().first { $0.kind == .completed && $0.requestID == id })
      #expect(notice.link == "https://privacy.example.com/requests/download?request_id=\(id)&token=\(notice.token)")
      #expect(notice.body.contains(notice.link) && notice.body.contains("works once"))
      // The request keeps only the token's hash (the clear token is in the undelivered notice alone).
      #expect(try await fixture.storedRequestBodies().allSatisfy { !$0.contains(notice.token) })

      try await expectRefused(client, .failedPrecondition, "TOKEN_MISMATCH") { _ = try await download(id, SecureToken.generate()) }
      fixture.clock.advance(by: 60)
      #expect(try await download(id, notice.token).content == bundle.content)
      try await expectRefused(client, .failedPrecondition, "TOKEN_ALREADY_USED") { _ = try await download(id, notice.token) }
      let used = try await client.get(id).artifact
      #expect(used.downloadedAt.date == now.addingTimeInterval(60))
      // Staff fetches are not limited by the link.
      #expect(try await client.getArtifact(.with { $0.requestID = id }).artifact.content == bundle.content)

      // A link not used within 7 days stops working; a request without one has no link to use.
      let late = try await client.inProgress(right: .portability, subject: "c-2").requestID
      _ = try await client.complete(late, artifact: exportBundle(10))
      let lateNotice = try #require(try await client.pendingOutbox().first { $0.kind == .completed && $0.requestID == late })
      fixture.clock.advance(by: 7 * 86_400)
      try await expectRefused(client, .failedPrecondition, "TOKEN_EXPIRED") { _ = try await download(late, lateNotice.token) }
      let objection = try await client.inProgress(right: .objection, details: .with { $0.objection = .with { $0.directMarketing = true } })
      _ = try await client.complete(objection.requestID)
      try await expectRefused(client, .notFound, "ARTIFACT_NOT_FOUND") { _ = try await download(objection.requestID, lateNotice.token) }
    }
  }

  @Test("artifacts are purged 30 days after completion, and when an erasure of the subject completes")
  func artifactPurge() async throws {
    try await withRightsService { client, fixture async throws in
      let marker = Data("UNIQUE-EXPORT-MARKER-4711".utf8)
      var bundle = exportBundle(0)
      bundle.content = marker + Data(repeating: 0x2A, count: 1000)
      let first = try await client.inProgress(right: .portability).requestID
      _ = try await client.complete(first, artifact: bundle)
      let other = try await client.inProgress(right: .access, subject: "c-2").requestID
      _ = try await client.complete(other, artifact: exportBundle(50))
      let plain = try await client.inProgress(right: .objection, details: .with { $0.objection = .with { $0.directMarketing = true } })
      _ = try await client.complete(plain.requestID)
      try await expectRefused(client, .notFound, "ARTIFACT_NOT_FOUND") { _ = try await client.getArtifact(.with { $0.requestID = plain.requestID }) }
      try await expectRefused(client, .notFound) { _ = try await client.getArtifact(.with { $0.requestID = "ghost" }) }

      // Erasure of c-1 completes: c-1's export goes, c-2's stays.
      fixture.clock.advance(by: 86_400)
      let erasure = try await client.inProgress(right: .erasure).requestID
      let erased = try await client.complete(erasure, outcome: "steps: blocklist_add, vault_erase; fields erased: 7")
      #expect(erased.status == .completed && !erased.hasArtifact)
      let purged = try await client.get(first)
      #expect(purged.artifact.purged && purged.artifact.expiresAt.date == fixture.clock.now().microsecondPrecision)
      #expect(!purged.artifact.sha256.isEmpty)
      let error = await capturedRPCError { try await client.getArtifact(.with { $0.requestID = first }) }
      #expect(error?.code == .notFound && error?.errorInfoReason == "ARTIFACT_PURGED")
      let info = try #require(try error?.unpackGoogleRPCStatus()?.details.compactMap(\.errorInfo).first)
      #expect(info.metadata["purged_at"] != nil)
      #expect(try await !fixture.holds("UNIQUE-EXPORT-MARKER-4711"))
      #expect(try await client.getArtifact(.with { $0.requestID = other }).artifact.content == exportBundle(50).content)

      // 30 days after completion the rest goes too.
      fixture.clock.advance(by: 29 * 86_400 - 1)
      #expect(try await client.getArtifact(.with { $0.requestID = other }).artifact.sizeBytes == 50)
      fixture.clock.advance(by: 1)
      let expired = await capturedRPCError { try await client.getArtifact(.with { $0.requestID = other }) }
      #expect(expired?.errorInfoReason == "ARTIFACT_PURGED")
      #expect(try await client.get(other).artifact.purged)
    }
  }

  @Test("an erasure leaves the subject's closed requests and sent messages without the person's data; open ones keep it")
  func erasureScrubsClosedRequests() async throws {
    try await withRightsService { client, fixture async throws in
      let email = "zoe.unique@example.com"
      func completed(_ right: Privacy_Rights_V1_Right, details: Privacy_Rights_V1_RequestDetails? = nil) async throws -> String {
        let id = try await client.open(right: right, email: email, details: details).requestID
        _ = try await client.verifyByStaff(id)
        _ = try await client.start(id)
        _ = try await client.complete(id)
        return id
      }
      let rectification = try await completed(.rectification, details: .with {
        $0.rectification = .with { $0.changes = ["name": "Zoe Unique-Surname"] }
        $0.note = "she called from +49 151 99887766"
      })
      // Sent messages lose the address when acknowledged.
      let sent = try await client.pendingOutbox().map(\.messageID)
      _ = try await client.ackOutbox(.with { $0.messageIds = sent })
      let acked = try await client.listOutbox(.with { $0.includeAcked = true }).messages
      #expect(acked.allSatisfy { $0.recipientEmail.isEmpty })
      let open = try await client.open(right: .access, email: email, details: .with { $0.note = "also send me a copy" }).requestID
      #expect(try await client.get(rectification).requesterEmail == email)

      let erasure = try await completed(.erasure)
      let scrubbed = try await client.get(rectification)
      #expect(scrubbed.requesterEmail.isEmpty && scrubbed.details.note.isEmpty && scrubbed.verification.note.isEmpty)
      #expect(scrubbed.details.rectification.changes == ["name": ""])  // which field was corrected stays
      #expect(scrubbed.status == .completed && scrubbed.right == .rectification && scrubbed.hasClosedAt)
      let erased = try await client.get(erasure)
      #expect(erased.requesterEmail.isEmpty && erased.status == .completed)
      // The open request still needs the address to be answered.
      let stillOpen = try await client.get(open)
      #expect(stillOpen.requesterEmail == email && stillOpen.details.note == "also send me a copy")
      // The erasure's completion notice keeps the address until the mailer has sent it.
      let notice = try #require(try await client.pendingOutbox().first { $0.requestID == erasure && $0.kind == .completed })
      #expect(notice.recipientEmail == email)
      _ = try await client.ackOutbox(.with { $0.messageIds = [notice.messageID] })
      #expect(try await !fixture.holds("Zoe Unique-Surname"))
      #expect(try await !fixture.holds("99887766"))
      #expect(try await !fixture.holds("passport seen"))
    }
  }

  @Test("any open request can be rejected with a reason; the requester is told about the complaint right")
  func reject() async throws {
    try await withRightsService { client, fixture async throws in
      let id = try await client.inProgress(right: .erasure).requestID
      try await client.step(id, "blocklist_add", .running)
      try await expectRefused(client, .invalidArgument) { _ = try await client.rejectRequest(.with { $0.requestID = id }) }
      try await expectRefused(client, .invalidArgument) {
        _ = try await client.rejectRequest(.with {
          $0.requestID = id
          $0.reason = "x"
          $0.grounds = .UNRECOGNIZED(99)
        })
      }
      let rejected = try await client.rejectRequest(.with {
        $0.requestID = id
        $0.reason = "legal obligation to keep invoices (art 17(3)(b))"
        $0.grounds = .exemption
      }).request
      #expect(rejected.status == .rejected && rejected.rejection.grounds == .exemption && rejected.rejection.rejectedBy == "dpo-anna")
      #expect(rejected.closedAt.date == fixture.clock.now().microsecondPrecision)
      let message = try #require(try await client.pendingOutbox().first { $0.kind == .rejected })
      #expect(message.body.contains("supervisory authority") && message.body.contains("art 17(3)(b)"))
      try await expectRefused(client, .failedPrecondition, "REQUEST_CLOSED") {
        _ = try await client.rejectRequest(.with {
          $0.requestID = id
          $0.reason = "again"
        })
      }
    }
  }
}

enum SHA256Hex {
  static func of(_ data: Data) -> String { SHA256.hash(data: data).hex }
}
