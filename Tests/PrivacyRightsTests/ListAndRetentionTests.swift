import Foundation
import GRPCCore
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Testing

@Suite("Listing, recipients, retention, outbox and restarts")
struct ListAndRetentionTests {
  @Test("ListRequests filters, orders by deadline and pages with tokens bound to the filter")
  func listRequests() async throws {
    try await withRightsService { client, fixture async throws in
      let now = fixture.clock.now()
      let old = try await client.open(right: .erasure, subject: "c-1", receivedAt: now.addingTimeInterval(-40 * 86_400))
      let soon = try await client.open(right: .access, subject: "c-2", receivedAt: now.addingTimeInterval(-25 * 86_400))
      let fresh = try await client.open(right: .access, subject: "c-1")
      let done = try await client.inProgress(right: .restriction, subject: "c-3")
      _ = try await client.complete(done.requestID)
      let controller = try await client.openRequest(.with {
        $0.right = .erasure
        $0.subjectID = "c-4"
        $0.origin = .controller
      }).request

      func ids(_ filter: Privacy_Rights_V1_RequestFilter) async throws -> [String] {
        try await client.listRequests(.with { $0.filter = filter }).requests.map(\.requestID)
      }
      let all = try await ids(.with { _ in })
      #expect(all.count == 5 && all.first == old.requestID)
      #expect(try await ids(.with { $0.overdue = true }) == [old.requestID])
      #expect(try await ids(.with { $0.dueWithinDays = 7 }) == [old.requestID, soon.requestID])
      #expect(try await ids(.with { $0.dueWithinDays = 0 }) == [old.requestID])
      #expect(try await ids(.with { $0.right = .access }) == [soon.requestID, fresh.requestID])
      #expect(try await ids(.with { $0.subjectID = "c-1" }) == [old.requestID, fresh.requestID])
      #expect(try await ids(.with { $0.status = .completed }) == [done.requestID])
      #expect(try await ids(.with { $0.openOnly = true }).count == 4)
      #expect(try await ids(.with { $0.origin = .controller }) == [controller.requestID])
      #expect(try await ids(.with {
        $0.right = .erasure
        $0.openOnly = true
        $0.subjectID = "c-1"
      }) == [old.requestID])
      let overdue = try await client.listRequests(.with { $0.filter = .with { $0.overdue = true } }).requests
      #expect(overdue.allSatisfy { $0.overdue })

      var paged: [String] = []
      var token = ""
      repeat {
        let page = try await client.listRequests(.with {
          $0.pageSize = 2
          $0.pageToken = token
        })
        #expect(page.requests.count <= 2)
        paged += page.requests.map(\.requestID)
        token = page.nextPageToken
      } while !token.isEmpty
      #expect(paged == all)
      let first = try await client.listRequests(.with { $0.pageSize = 2 })
      try await expectRefused(client, .invalidArgument) {
        _ = try await client.listRequests(.with {
          $0.filter = .with { $0.right = .access }
          $0.pageToken = first.nextPageToken
        })
      }
      try await expectRefused(client, .invalidArgument) { _ = try await client.listRequests(.with { $0.filter = .with { $0.dueWithinDays = -1 } }) }
      try await expectRefused(client, .invalidArgument) { _ = try await client.listRequests(.with { $0.filter = .with { $0.subjectID = "a b" } }) }
      try await expectRefused(client, .invalidArgument) { _ = try await client.listRequests(.with { $0.pageSize = -5 }) }
    }
  }

  @Test("recipients are upserted whole and listed by purpose")
  func recipients() async throws {
    try await withRightsService { client, fixture async throws in
      let created = try await client.upsertRecipient(.with {
        $0.recipientID = "acme"
        $0.name = "ACME GmbH"
        $0.contact = "privacy@acme.example"
        $0.purposeIds = ["newsletter", "analytics", "newsletter"]
        $0.notes = "DPA signed 2025-03-01"
      })
      #expect(created.created && created.recipient.purposeIds == ["analytics", "newsletter"])
      fixture.clock.advance(by: 60)
      let same = try await client.upsertRecipient(.with {
        $0.recipientID = "acme"
        $0.name = "ACME GmbH"
        $0.contact = "privacy@acme.example"
        $0.purposeIds = ["analytics", "newsletter"]
        $0.notes = "DPA signed 2025-03-01"
      })
      #expect(!same.created && same.recipient == created.recipient)
      let changed = try await client.upsertRecipient(.with {
        $0.recipientID = "acme"
        $0.name = "ACME Group"
        $0.contact = "dpo@acme.example"
      })
      #expect(!changed.created && changed.recipient.purposeIds.isEmpty && changed.recipient.createdAt == created.recipient.createdAt)
      #expect(changed.recipient.updatedAt.date == fixture.clock.now().microsecondPrecision)
      _ = try await client.upsertRecipient(.with {
        $0.recipientID = "beta"
        $0.name = "Beta Ads"
        $0.contact = "https://beta.example/privacy"
        $0.purposeIds = ["ads"]
      })
      #expect(try await client.listRecipients(.with { _ in }).recipients.map(\.recipientID) == ["acme", "beta"])
      #expect(try await client.listRecipients(.with { $0.purposeID = "ads" }).recipients.map(\.recipientID) == ["beta"])
      let page = try await client.listRecipients(.with { $0.pageSize = 1 })
      #expect(try await client.listRecipients(.with {
        $0.pageSize = 1
        $0.pageToken = page.nextPageToken
      }).recipients.map(\.recipientID) == ["beta"])

      for bad in [
        Privacy_Rights_V1_UpsertRecipientRequest.with { $0.recipientID = "Bad"; $0.name = "n"; $0.contact = "c" },
        .with { $0.recipientID = "x"; $0.name = ""; $0.contact = "c" },
        .with { $0.recipientID = "x"; $0.name = "n"; $0.contact = "" },
        .with { $0.recipientID = "x"; $0.name = String(repeating: "n", count: 201); $0.contact = "c" },
        .with { $0.recipientID = "x"; $0.name = "n"; $0.contact = "c"; $0.purposeIds = ["Bad Purpose"] },
        .with { $0.recipientID = "x"; $0.name = "n"; $0.contact = "c"; $0.notes = String(repeating: "n", count: 2001) },
      ] {
        try await expectRefused(client, .invalidArgument) { _ = try await client.upsertRecipient(bad) }
      }
      try await expectRefused(client, .invalidArgument) { _ = try await client.listRecipients(.with { $0.purposeID = "Bad" }) }
    }
  }

  @Test("engagement keeps the latest; subjects are due under the earliest policy unless erased or being erased")
  func retention() async throws {
    try await withRightsService { client, fixture async throws in
      let now = fixture.clock.now()
      func engage(_ subject: String, daysAgo: Double) async throws -> Privacy_Rights_V1_RecordEngagementResponse {
        try await client.recordEngagement(.with {
          $0.subjectID = subject
          $0.at = now.addingTimeInterval(-daysAgo * 86_400).protoTimestamp
        })
      }
      let recorded = try await engage("lead-1", daysAgo: 400)
      #expect(recorded.updated && recorded.lastEngagementAt.date == now.addingTimeInterval(-400 * 86_400).microsecondPrecision)
      let older = try await engage("lead-1", daysAgo: 500)
      #expect(!older.updated && older.lastEngagementAt == recorded.lastEngagementAt)
      _ = try await engage("lead-2", daysAgo: 100)
      _ = try await engage("cust-1", daysAgo: 800)
      _ = try await engage("cust-2", daysAgo: 10)
      _ = try await engage("cust-3", daysAgo: 900)
      _ = try await engage("cust-4", daysAgo: 1000)
      let nowEngaged = try await client.recordEngagement(.with { $0.subjectID = "cust-5" })
      #expect(nowEngaged.lastEngagementAt.date == now.microsecondPrecision)

      _ = try await client.upsertRetentionPolicy(.with {
        $0.name = "leads"
        $0.inactivityDays = 90
        $0.scope = "prefix:lead-"
        $0.description_p = "Leads without contact for 90 days"
      })
      let policy = try await client.upsertRetentionPolicy(.with {
        $0.name = "everyone"
        $0.inactivityDays = 730
        $0.scope = "all"
      })
      #expect(policy.created && policy.policy.scope == "all")
      _ = try await client.upsertRetentionPolicy(.with {
        $0.name = "dormant"
        $0.inactivityDays = 1
        $0.scope = "all"
        $0.disabled = true
      })
      #expect(try await client.listRetentionPolicies(.with { _ in }).policies.map(\.name) == ["dormant", "everyone", "leads"])

      // cust-3 has an open erasure request; cust-4 was erased after their last engagement.
      _ = try await client.open(right: .erasure, subject: "cust-3")
      let erasure = try await client.inProgress(right: .erasure, subject: "cust-4")
      _ = try await client.complete(erasure.requestID)

      let due = try await client.listDueForRetention(.with { $0.now = now.protoTimestamp }).due
      #expect(due.map(\.subjectID) == ["lead-1", "cust-1", "lead-2"])
      #expect(due.map(\.policyName) == ["leads", "everyone", "leads"])
      #expect(due[0].dueSince.date == now.addingTimeInterval(-310 * 86_400).microsecondPrecision)
      #expect(due[0].lastEngagementAt == recorded.lastEngagementAt)

      // Paging stays on the instant of the first page even with `now` unset.
      let first = try await client.listDueForRetention(.with { $0.pageSize = 2 })
      #expect(first.due.map(\.subjectID) == ["lead-1", "cust-1"])
      fixture.clock.advance(by: 365 * 86_400)
      let second = try await client.listDueForRetention(.with {
        $0.pageSize = 2
        $0.pageToken = first.nextPageToken
      })
      #expect(second.due.map(\.subjectID) == ["lead-2"] && second.nextPageToken.isEmpty)
      try await expectRefused(client, .invalidArgument) {
        _ = try await client.listDueForRetention(.with {
          $0.now = now.protoTimestamp
          $0.pageToken = first.nextPageToken
        })
      }

      for bad in [
        Privacy_Rights_V1_UpsertRetentionPolicyRequest.with { $0.name = "x"; $0.inactivityDays = 0; $0.scope = "all" },
        .with { $0.name = "x"; $0.inactivityDays = 36_501; $0.scope = "all" },
        .with { $0.name = "X"; $0.inactivityDays = 30; $0.scope = "all" },
        .with { $0.name = "x"; $0.inactivityDays = 30; $0.scope = "some" },
        .with { $0.name = "x"; $0.inactivityDays = 30; $0.scope = "prefix:" },
        .with { $0.name = "x"; $0.inactivityDays = 30; $0.scope = "prefix:a b" },
        .with { $0.name = "x"; $0.inactivityDays = 30; $0.scope = "all"; $0.description_p = String(repeating: "d", count: 2001) },
      ] {
        try await expectRefused(client, .invalidArgument) { _ = try await client.upsertRetentionPolicy(bad) }
      }
      try await expectRefused(client, .invalidArgument) {
        _ = try await client.recordEngagement(.with {
          $0.subjectID = "cust-1"
          $0.at = fixture.clock.now().addingTimeInterval(301).protoTimestamp
        })
      }
      try await expectRefused(client, .invalidArgument) { _ = try await client.recordEngagement(.with { $0.subjectID = "" }) }
    }
  }

  @Test("ListEngagements lists subjects engaged within bounds, oldest first, in pages bound to the bounds")
  func engagements() async throws {
    try await withRightsService { client, fixture async throws in
      let now = fixture.clock.now()
      for (subject, daysAgo) in [("a", 400.0), ("b", 100), ("c", 100), ("d", 10), ("e", 500)] {
        _ = try await client.recordEngagement(.with {
          $0.subjectID = subject
          $0.at = now.addingTimeInterval(-daysAgo * 86_400).protoTimestamp
        })
      }
      func list(after: Double?, until: Double, size: Int32 = 0, token: String = "") async throws -> Privacy_Rights_V1_ListEngagementsResponse {
        try await client.listEngagements(.with {
          if let after { $0.engagedAfter = now.addingTimeInterval(-after * 86_400).protoTimestamp }
          $0.engagedUntil = now.addingTimeInterval(-until * 86_400).protoTimestamp
          $0.pageSize = size
          $0.pageToken = token
        })
      }
      let all = try await list(after: nil, until: 0)
      #expect(all.engagements.map(\.subjectID) == ["e", "a", "b", "c", "d"])
      #expect(all.engagements[1].lastEngagementAt.date == now.addingTimeInterval(-400 * 86_400).microsecondPrecision)
      // The lower bound is exclusive, the upper inclusive.
      #expect(try await list(after: 400, until: 100).engagements.map(\.subjectID) == ["b", "c"])
      let first = try await list(after: nil, until: 50, size: 2)
      #expect(first.engagements.map(\.subjectID) == ["e", "a"])
      let second = try await list(after: nil, until: 50, size: 2, token: first.nextPageToken)
      #expect(second.engagements.map(\.subjectID) == ["b", "c"] && second.nextPageToken.isEmpty)
      try await expectRefused(client, .invalidArgument) { _ = try await list(after: nil, until: 10, size: 2, token: first.nextPageToken) }
      try await expectRefused(client, .invalidArgument) { _ = try await client.listEngagements(.init()) }
      try await expectRefused(client, .invalidArgument) {
        _ = try await client.listEngagements(.with {
          $0.engagedUntil = now.protoTimestamp
          $0.engagedAfter = .with { $0.seconds = 999_999_999_999 }
        })
      }
    }
  }

  @Test("a closed request keeps the person's data for RIGHTS_CLOSED_REQUEST_RETENTION_DAYS, then only the proof of its handling")
  func closedRequestRetention() async throws {
    try await withRightsService(environment: ["RIGHTS_CLOSED_REQUEST_RETENTION_DAYS": "10"]) { client, fixture async throws in
      let closed = try await client.open(right: .access, email: "kept.ten.days@example.com", details: .with { $0.note = "ref 55-4411" })
      _ = try await client.verifyByStaff(closed.requestID)
      _ = try await client.start(closed.requestID)
      _ = try await client.complete(closed.requestID, artifact: exportBundle(10))
      let open = try await client.open(right: .objection, subject: "c-2", email: "still.open@example.com", details: .with {
        $0.objection = .with { $0.directMarketing = true }
      })
      let sent = try await client.pendingOutbox().map(\.messageID)
      _ = try await client.ackOutbox(.with { $0.messageIds = sent })

      fixture.clock.advance(by: 10 * 86_400 - 1)
      let kept = try await client.get(closed.requestID)
      #expect(kept.requesterEmail == "kept.ten.days@example.com" && !kept.hasPersonalDataScrubbedAt)

      fixture.clock.advance(by: 1)
      let scrubbed = try await client.get(closed.requestID)
      #expect(scrubbed.requesterEmail.isEmpty && scrubbed.details.note.isEmpty && scrubbed.verification.note.isEmpty)
      #expect(scrubbed.personalDataScrubbedAt.date == fixture.clock.now().microsecondPrecision)
      #expect(scrubbed.status == .completed && scrubbed.artifact.purged)  // before its 30 days: it goes with the data
      let stillOpen = try await client.get(open.requestID)
      #expect(stillOpen.requesterEmail == "still.open@example.com" && !stillOpen.hasPersonalDataScrubbedAt)
      #expect(try await !fixture.holds("kept.ten.days@example.com"))
      #expect(try await !fixture.holds("55-4411"))
    }
  }

  @Test("RIGHTS_CLOSED_REQUEST_RETENTION_DAYS outside 1-36,500 stops start-up naming it", arguments: ["0", "36501", "ten"])
  func closedRequestRetentionConfiguration(_ value: String) async throws {
    let fixture = try RightsFixture(environment: ["RIGHTS_CLOSED_REQUEST_RETENTION_DAYS": value])
    do {
      _ = try await fixture.makeServer()
      Issue.record("expected a configuration error for \(value)")
    } catch let error as ConfigurationError {
      #expect(error.variable == "RIGHTS_CLOSED_REQUEST_RETENTION_DAYS")
    }
  }

  @Test("AckOutbox with an unknown id acknowledges nothing; acknowledging twice is harmless")
  func outbox() async throws {
    try await withRightsService { client, _ async throws in
      let request = try await client.open()
      _ = try await client.startVerification(.with { $0.requestID = request.requestID })
      let message = try #require(try await client.pendingOutbox().first)
      try await expectRefused(client, .notFound) { _ = try await client.ackOutbox(.with { $0.messageIds = [message.messageID, "ghost"] }) }
      try await expectRefused(client, .invalidArgument) { _ = try await client.ackOutbox(.with { _ in }) }
      try await expectRefused(client, .invalidArgument) {
        _ = try await client.ackOutbox(.with { $0.messageIds = Array(repeating: message.messageID, count: 1001) })
      }
      #expect(try await client.ackOutbox(.with { $0.messageIds = [message.messageID] }).ackedCount == 1)
      #expect(try await client.ackOutbox(.with { $0.messageIds = [message.messageID] }).ackedCount == 0)
      // The verification still works with the token the person received.
      #expect(try await client.confirm(request.requestID, message.token).status == .verified)
    }
  }

  @Test("everything survives a restart: requests with their step log, verification attempts, artifacts, recipients, policies, engagements")
  func restart() async throws {
    let fixture = try RightsFixture()
    let (ids, before) = try await fixture.run { client async throws in
      let verifying = try await client.open(subject: "c-1")
      let token = try await client.startAndReadToken(verifying.requestID)
      _ = await capturedRPCError { try await client.confirm(verifying.requestID, "wrong") }
      let working = try await client.inProgress(right: .erasure, subject: "c-2")
      try await client.step(working.requestID, "blocklist_add", .done, detail: "2 identifiers")
      try await client.step(working.requestID, "vault_erase", .failed, error: "UNAVAILABLE")
      let exported = try await client.inProgress(right: .access, subject: "c-3")
      _ = try await client.complete(exported.requestID, artifact: exportBundle(1234))
      _ = try await client.upsertRecipient(.with {
        $0.recipientID = "acme"
        $0.name = "ACME"
        $0.contact = "privacy@acme.example"
      })
      _ = try await client.upsertRetentionPolicy(.with {
        $0.name = "all"
        $0.inactivityDays = 30
        $0.scope = "all"
      })
      _ = try await client.recordEngagement(.with {
        $0.subjectID = "c-9"
        $0.at = fixture.clock.now().addingTimeInterval(-90 * 86_400).protoTimestamp
      })
      return ([verifying.requestID, working.requestID, exported.requestID, token], try await client.snapshot())
    }
    try await fixture.run { client async throws in
      #expect(try await client.snapshot() == before)
      #expect(try await client.get(ids[0]).verification.attemptsLeft == 4)
      #expect(try await client.get(ids[1]).steps.map(\.status) == [.done, .failed])
      #expect(try await client.getArtifact(.with { $0.requestID = ids[2] }).artifact.content == exportBundle(1234).content)
      #expect(try await client.listDueForRetention(.with { _ in }).due.map(\.subjectID) == ["c-9"])
      #expect(try await client.confirm(ids[0], ids[3]).status == .verified)
    }
  }
}
