public import Foundation
public import PrivacyKit

/// Which requests to list; every set criterion must hold.
public struct RequestQuery: Sendable, Equatable {
  public var status: RequestStatus?
  public var right: Right?
  public var origin: RequestOrigin?
  public var subjectID: String?
  /// Only open requests.
  public var openOnly = false
  /// Only open requests whose `due_at` is at or before this instant (overdue: now; due within N
  /// days: now + N days).
  public var dueBy: Date?

  public init() {}
}

/// Where a request listing page starts: after this request in (`due_at`, `request_id`) order.
public struct RequestCursor: Sendable, Equatable {
  public var dueAt: Microseconds
  public var requestID: String

  public init(dueAt: Microseconds, requestID: String) {
    self.dueAt = dueAt
    self.requestID = requestID
  }
}

/// Everything one write changes, committed by the store in a single transaction.
public struct RightsCommit: Sendable {
  /// Requests created or changed, stored whole.
  public var requests: [SubjectRequest] = []
  /// The content of a new artifact, by request id.
  public var artifactContents: [String: Data] = [:]
  /// Requests whose artifact content is deleted now.
  public var purgedArtifacts: [String] = []
  /// Requests whose sent outbox messages lose the recipient's address now (their subject was
  /// erased).
  public var scrubbedOutboxRequests: [String] = []
  public var outbox: [OutboxMessage] = []
  public var recipients: [Recipient] = []
  public var policies: [RetentionPolicy] = []
  /// Engagements to keep; a subject's stored one moves only forward.
  public var engagements: [(subjectID: String, at: Date)] = []

  public init() {}

  public var isEmpty: Bool {
    requests.isEmpty && artifactContents.isEmpty && purgedArtifacts.isEmpty && scrubbedOutboxRequests.isEmpty && outbox.isEmpty
      && recipients.isEmpty && policies.isEmpty && engagements.isEmpty
  }
}

/// Where the subject-rights service keeps its data. One write is one `commit`, in one transaction.
public protocol RightsStore: Sendable {
  func request(id: String) async throws -> SubjectRequest?
  func request(idempotencyKey: String) async throws -> SubjectRequest?
  /// Requests matching `query` in (`due_at`, `request_id`) order, after `cursor`.
  func requests(_ query: RequestQuery, after cursor: RequestCursor?, limit: Int) async throws -> [SubjectRequest]
  /// Ids of requests whose artifact content is still stored and expired at `date`.
  func requestIDsWithArtifactExpired(by date: Date) async throws -> [String]
  /// The earliest expiry of a stored artifact, if any.
  func nextArtifactExpiry() async throws -> Date?
  /// Closed requests still holding personal data that closed at or before `date`.
  func requestIDsClosedUnscrubbed(by date: Date) async throws -> [String]
  /// When the oldest closed request still holding personal data closed; nil when none does.
  func earliestUnscrubbedClose() async throws -> Date?
  func artifactContent(requestID: String) async throws -> Data?
  /// Runs `body` while no other process writes, so that a write's reads, rules and commit see one
  /// state (PostgreSQL, several replicas). On SQLite, one process per file, the desk's own write
  /// lock is enough and `body` just runs.
  func exclusively<T: Sendable>(_ body: () async throws -> T) async throws -> T
  func commit(_ commit: RightsCommit) async throws

  func recipient(id: String) async throws -> Recipient?
  /// Recipients ordered by id, after `cursor`, optionally only those receiving `purposeID`.
  func recipients(purposeID: String?, after cursor: String?, limit: Int) async throws -> [Recipient]

  func policy(name: String) async throws -> RetentionPolicy?
  func policies(after cursor: String?, limit: Int) async throws -> [RetentionPolicy]

  func lastEngagement(subjectID: String) async throws -> Date?
  /// Subjects due under the enabled policies at `now` (see ListDueForRetention), ordered by
  /// (`due_since`, `subject_id`), after `cursor`.
  func dueForRetention(now: Date, after cursor: RetentionCursor?, limit: Int) async throws -> [RetentionDue]
  /// Subjects whose last engagement is in (`after`, `until`], ordered by engagement then subject
  /// id, after `cursor`.
  func engagements(after: Date?, until: Date, cursor: EngagementCursor?, limit: Int) async throws -> [(subjectID: String, at: Date)]

  /// Outbox messages after `position` that `filter` lets through, oldest first.
  func outbox(after position: Int64, filter: OutboxFilter, limit: Int) async throws -> [OutboxMessage]
  /// Marks messages as sent and wipes address, body, token and links; returns how many were newly
  /// acknowledged. An unknown id throws `RightsError.outboxMessageNotFound` and acks nothing.
  func ackOutbox(ids: [String], at: Date) async throws -> Int
  /// Leases up to `limit` due messages (neither acknowledged nor failed, next attempt and any
  /// lease past at `now`) until `until`, oldest first; two callers never get the same message.
  func leaseOutbox(limit: Int, until: Date, now: Date) async throws -> [OutboxMessage]
  /// Records a failed attempt and ends the message's lease: due again at the report's retry time,
  /// or failed for good with its address, body, token and links wiped. An acknowledged or failed
  /// message is left as it is. An unknown id throws `RightsError.outboxMessageNotFound`.
  func reportOutboxFailure(_ report: OutboxFailureReport, at: Date) async throws -> OutboxMessage
  /// The art 19 notices queued for a request's recipients, oldest first.
  func recipientNotices(requestID: String) async throws -> [OutboxMessage]
}
