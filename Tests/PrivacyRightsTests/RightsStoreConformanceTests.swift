import Foundation
import PrivacyKit
@testable import PrivacyRights
import PrivacyTesting
import Testing

extension StoreKind {
  /// Runs `body` with a new, empty subject-rights store of this kind.
  func withRightsStore<T: Sendable>(_ body: (any RightsStore) async throws -> T) async throws -> T {
    try await withDatabase { database in
      switch database {
      case .sqlite(let path): try await body(try SQLiteRightsStore(path: path, logger: silentLogger))
      case .postgres(let settings): try await body(try await PostgresRightsStore.open(settings, logger: silentLogger))
      }
    }
  }
}

/// Every method of `RightsStore`, its errors and its transactions, the same on each store. (The
/// subject-rights service's behaviour suites also run on both stores: `scripts/test`.)
@Suite("Subject-rights store conformance")
struct RightsStoreConformanceTests {
  private static let start = Date(timeIntervalSince1970: 1_800_000_000)
  private static let day: TimeInterval = 86_400

  private func request(_ id: String, _ subject: String, _ right: Right = .access, received days: Double = 0) -> SubjectRequest {
    SubjectRequest(
      id: id, subjectID: subject, right: right, origin: .dataSubject, requesterEmail: "\(subject)@example.com", channel: .api,
      details: RequestDetails(note: "note for \(id)"), receivedAt: Self.start.addingTimeInterval(days * Self.day), openedBy: "crm",
      idempotencyKey: "key-\(id)", now: Self.start)
  }

  private func committed(_ store: any RightsStore, _ fill: (inout RightsCommit) -> Void) async throws {
    var commit = RightsCommit()
    fill(&commit)
    try await store.commit(commit)
  }

  @Test("requests come back whole, by id, by idempotency key, and listed by query in due order", arguments: StoreKind.available)
  func requests(kind: StoreKind) async throws {
    try await kind.withRightsStore { store in
      var closed = request("r-3", "b", .erasure, received: 2)
      closed.status = .completed
      closed.closedAt = Self.start.addingTimeInterval(3 * Self.day)
      let requests = [request("r-1", "a"), request("r-2", "b", received: 1), closed]
      try await committed(store) { $0.requests = requests }
      #expect(try await store.request(id: "r-2") == requests[1])
      #expect(try await store.request(id: "nope") == nil)
      #expect(try await store.request(idempotencyKey: "key-r-3") == closed)
      #expect(try await store.request(idempotencyKey: "nope") == nil)
      #expect(try await store.requests(RequestQuery(), after: nil, limit: 10).map(\.id) == ["r-1", "r-2", "r-3"])
      var bySubject = RequestQuery()
      bySubject.subjectID = "b"
      #expect(try await store.requests(bySubject, after: nil, limit: 10).map(\.id) == ["r-2", "r-3"])
      var open = RequestQuery()
      open.openOnly = true
      #expect(try await store.requests(open, after: nil, limit: 10).map(\.id) == ["r-1", "r-2"])
      var erasures = RequestQuery()
      erasures.right = .erasure
      erasures.status = .completed
      #expect(try await store.requests(erasures, after: nil, limit: 10).map(\.id) == ["r-3"])
      var dueSoon = RequestQuery()
      dueSoon.dueBy = requests[0].dueAt
      #expect(try await store.requests(dueSoon, after: nil, limit: 10).map(\.id) == ["r-1"])
      let cursor = RequestCursor(dueAt: Microseconds(requests[0].dueAt), requestID: "r-1")
      #expect(try await store.requests(RequestQuery(), after: cursor, limit: 1).map(\.id) == ["r-2"])
      // A second commit of a request replaces it whole.
      var started = requests[0]
      started.status = .inProgress
      started.outcome = "started"
      try await committed(store) { $0.requests = [started] }
      #expect(try await store.request(id: "r-1") == started)
      #expect(try await store.exclusively { 7 } == 7)
    }
  }

  @Test("artifacts: stored with their request, listed when expired, purged on their own", arguments: StoreKind.available)
  func artifacts(kind: StoreKind) async throws {
    try await kind.withRightsStore { store in
      #expect(try await store.nextArtifactExpiry() == nil)
      var completed = request("r-1", "a")
      completed.artifact = ArtifactInfo(
        mediaType: "application/zip", fileName: "export.zip", sizeBytes: 3, sha256: "abc", createdAt: Self.start,
        expiresAt: Self.start.addingTimeInterval(30 * Self.day))
      try await committed(store) {
        $0.requests = [completed]
        $0.artifactContents = ["r-1": Data([1, 2, 3])]
      }
      #expect(try await store.artifactContent(requestID: "r-1") == Data([1, 2, 3]))
      #expect(try await store.artifactContent(requestID: "r-2") == nil)
      #expect(try await store.nextArtifactExpiry() == completed.artifact?.expiresAt)
      #expect(try await store.requestIDsWithArtifactExpired(by: Self.start.addingTimeInterval(29 * Self.day)).isEmpty)
      #expect(try await store.requestIDsWithArtifactExpired(by: Self.start.addingTimeInterval(30 * Self.day)) == ["r-1"])
      try await committed(store) { $0.purgedArtifacts = ["r-1"] }
      #expect(try await store.artifactContent(requestID: "r-1") == nil)
      #expect(try await store.nextArtifactExpiry() == nil)
      #expect(try await store.requestIDsWithArtifactExpired(by: Self.start.addingTimeInterval(90 * Self.day)).isEmpty)
    }
  }

  @Test("closed requests still holding personal data are listed by close, until scrubbed", arguments: StoreKind.available)
  func closedUnscrubbed(kind: StoreKind) async throws {
    try await kind.withRightsStore { store in
      var early = request("r-1", "a")
      early.status = .rejected
      early.closedAt = Self.start.addingTimeInterval(Self.day)
      var late = request("r-2", "b")
      late.status = .completed
      late.closedAt = Self.start.addingTimeInterval(5 * Self.day)
      try await committed(store) { $0.requests = [late, early, request("r-3", "c")] }
      #expect(try await store.earliestUnscrubbedClose() == early.closedAt)
      #expect(try await store.requestIDsClosedUnscrubbed(by: Self.start.addingTimeInterval(2 * Self.day)) == ["r-1"])
      #expect(try await store.requestIDsClosedUnscrubbed(by: Self.start.addingTimeInterval(9 * Self.day)) == ["r-1", "r-2"])
      early.personalDataScrubbedAt = Self.start.addingTimeInterval(2 * Self.day)
      try await committed(store) { $0.requests = [early] }
      #expect(try await store.earliestUnscrubbedClose() == late.closedAt)
      #expect(try await store.requestIDsClosedUnscrubbed(by: Self.start.addingTimeInterval(9 * Self.day)) == ["r-2"])
    }
  }

  @Test("recipients and retention policies come back by key and in pages", arguments: StoreKind.available)
  func catalogue(kind: StoreKind) async throws {
    try await kind.withRightsStore { store in
      let recipients = [
        Recipient(id: "crm", name: "CRM", contact: "dpo@crm.example", purposeIDs: ["newsletter", "crm"], notes: "", createdAt: Self.start,
                  updatedAt: Self.start),
        Recipient(id: "ads", name: "Ads", contact: "privacy@ads.example", purposeIDs: ["partners"], notes: "n", createdAt: Self.start,
                  updatedAt: Self.start),
      ]
      let policies = [
        RetentionPolicy(name: "two-years", inactivityDays: 730, scope: .all, description: "", disabled: false, createdAt: Self.start,
                        updatedAt: Self.start),
        RetentionPolicy(name: "guests", inactivityDays: 30, scope: .prefix("guest-"), description: "d", disabled: true,
                        createdAt: Self.start, updatedAt: Self.start),
      ]
      try await committed(store) {
        $0.recipients = recipients
        $0.policies = policies
      }
      #expect(try await store.recipient(id: "crm") == recipients[0])
      #expect(try await store.recipient(id: "nope") == nil)
      #expect(try await store.recipients(purposeID: nil, after: nil, limit: 10).map(\.id) == ["ads", "crm"])
      #expect(try await store.recipients(purposeID: nil, after: "ads", limit: 10).map(\.id) == ["crm"])
      #expect(try await store.recipients(purposeID: "partners", after: nil, limit: 10).map(\.id) == ["ads"])
      #expect(try await store.policy(name: "guests") == policies[1])
      #expect(try await store.policy(name: "nope") == nil)
      #expect(try await store.policies(after: nil, limit: 10).map(\.name) == ["guests", "two-years"])
      #expect(try await store.policies(after: "guests", limit: 1).map(\.name) == ["two-years"])
    }
  }

  @Test("engagements only move forward; subjects fall due under enabled policies in scope, unless being erased",
        arguments: StoreKind.available)
  func retention(kind: StoreKind) async throws {
    try await kind.withRightsStore { store in
      let old = Self.start.addingTimeInterval(-800 * Self.day)
      let recent = Self.start.addingTimeInterval(-10 * Self.day)
      try await committed(store) {
        $0.policies = [
          RetentionPolicy(name: "two-years", inactivityDays: 730, scope: .all, description: "", disabled: false, createdAt: old,
                          updatedAt: old),
          RetentionPolicy(name: "off", inactivityDays: 1, scope: .all, description: "", disabled: true, createdAt: old, updatedAt: old),
        ]
        $0.engagements = [("a", old), ("b", old.addingTimeInterval(Self.day)), ("c", recent), ("d", old)]
        $0.requests = [request("r-1", "d", .erasure)]
      }
      // An older engagement does not move a subject's back.
      try await committed(store) { $0.engagements = [("c", old)] }
      #expect(try await store.lastEngagement(subjectID: "c") == recent)
      #expect(try await store.lastEngagement(subjectID: "nobody") == nil)
      let window = try await store.engagements(after: nil, until: Self.start, cursor: nil, limit: 10)
      #expect(window.map(\.subjectID) == ["a", "d", "b", "c"])
      let rest = try await store.engagements(
        after: nil, until: Self.start, cursor: EngagementCursor(at: Microseconds(old), subjectID: "d"), limit: 10)
      #expect(rest.map(\.subjectID) == ["b", "c"])
      #expect(try await store.engagements(after: old, until: recent, cursor: nil, limit: 10).map(\.subjectID) == ["b", "c"])
      // d has an open erasure request; c engaged recently; "off" is disabled.
      let due = try await store.dueForRetention(now: Self.start, after: nil, limit: 10)
      #expect(due.map(\.subjectID) == ["a", "b"])
      #expect(due.first == RetentionDue(
        subjectID: "a", policyName: "two-years", lastEngagementAt: old, dueSince: old.addingTimeInterval(730 * Self.day)))
      let after = RetentionCursor(dueSince: Microseconds(due[0].dueSince), subjectID: "a")
      #expect(try await store.dueForRetention(now: Self.start, after: after, limit: 10).map(\.subjectID) == ["b"])
    }
  }

  @Test("the outbox pages, acknowledges once (wiping body, token and link), and an unknown id acknowledges nothing",
        arguments: StoreKind.available)
  func outbox(kind: StoreKind) async throws {
    try await kind.withRightsStore { store in
      func message(_ id: String) -> OutboxMessage {
        OutboxMessage(
          id: id, kind: .verification, requestID: "r-1", recipientEmail: "a@example.com", subjectLine: "Verify", body: "Click",
          token: "token-\(id)", link: "https://example.com/requests/verify?token=\(id)", createdAt: Self.start)
      }
      try await committed(store) {
        $0.requests = [request("r-1", "a")]
        $0.outbox = [message("m-1"), message("m-2")]
      }
      let listed = try await store.outbox(after: 0, filter: .pending, limit: 10)
      #expect(listed.map(\.id) == ["m-1", "m-2"])
      #expect(try await store.outbox(after: listed[0].position, filter: .pending, limit: 10).map(\.id) == ["m-2"])
      #expect(try await store.ackOutbox(ids: ["m-1"], at: Self.start) == 1)
      #expect(try await store.ackOutbox(ids: ["m-1"], at: Self.start) == 0)
      await #expect(throws: RightsError.outboxMessageNotFound("nope")) { try await store.ackOutbox(ids: ["m-2", "nope"], at: Self.start) }
      #expect(try await store.outbox(after: 0, filter: .pending, limit: 10).map(\.id) == ["m-2"])
      let acked = try #require(try await store.outbox(after: 0, filter: .all, limit: 10).first)
      #expect(acked.ackedAt == Self.start && acked.body.isEmpty && acked.token.isEmpty && acked.link.isEmpty)
      // The request's subject erased: its sent messages lose the address.
      try await committed(store) { $0.scrubbedOutboxRequests = ["r-1"] }
      #expect(try await store.outbox(after: 0, filter: .all, limit: 10).first?.recipientEmail.isEmpty == true)
    }
  }

  @Test("a lease hands each due notice to one caller; a permanent failure wipes it and lists it as failed",
        arguments: StoreKind.available)
  func outboxDelivery(kind: StoreKind) async throws {
    try await kind.withRightsStore { store in
      let message = OutboxMessage(
        id: "m-1", kind: .completed, requestID: "r-1", recipientEmail: "a@example.com", subjectLine: "Done", body: "Done",
        token: "t", link: "https://example.com/requests/download?token=t", createdAt: Self.start
      ).withPreferenceFooter("https://example.com/p/x")
      try await committed(store) {
        $0.requests = [request("r-1", "a")]
        $0.outbox = [message]
      }
      let now = Self.start
      let leased = try await store.leaseOutbox(limit: 10, until: now.addingTimeInterval(30), now: now)
      #expect(leased.map(\.id) == ["m-1"] && leased[0].preferenceURL == "https://example.com/p/x")
      #expect(try await store.leaseOutbox(limit: 10, until: now.addingTimeInterval(30), now: now).isEmpty)
      let failed = try await store.reportOutboxFailure(
        try OutboxFailureReport(messageID: "m-1", failure: "554 5.7.1 rejected for a@example.com", permanent: true, retryAt: nil, now: now),
        at: now)
      #expect(failed.delivery.failedAt == now && failed.delivery.lastFailure == "554 5.7.1 rejected for [address]")
      #expect(failed.recipientEmail.isEmpty && failed.body.isEmpty && failed.token.isEmpty && failed.link.isEmpty && failed.preferenceURL.isEmpty)
      #expect(try await store.outbox(after: 0, filter: .failed, limit: 10).map(\.id) == ["m-1"])
      #expect(try await store.outbox(after: 0, filter: .pending, limit: 10).isEmpty)
      #expect(try await store.leaseOutbox(limit: 10, until: now.addingTimeInterval(90), now: now.addingTimeInterval(60)).isEmpty)
    }
  }
}
