public import Foundation
public import PrivacyKit

/// The subjects' states a store keeps, and how far into the ledger they reach: every event
/// changes its subject's state, so the newest state's last sequence is the last event they hold.
/// Found while loading, when each state is at hand, rather than by a second pass over millions.
public struct KeptSubjectStates: Sendable {
  public var states: [String: PackedSubjectState] = [:]
  public var lastSequence: UInt64 = 0

  public init(expecting count: Int = 0) {
    states.reserveCapacity(count)
  }

  public mutating func keep(_ subjectID: String, _ state: PackedSubjectState) {
    states[subjectID] = state
    lastSequence = max(lastSequence, state.lastSequence)
  }
}

/// Which ledger events to read.
public struct EventQuery: Sendable, Equatable {
  public var subjectID: String?
  public var purposeID: String?
  /// Only events with a greater sequence.
  public var after: UInt64 = 0
  public var limit: Int

  public init(subjectID: String? = nil, purposeID: String? = nil, after: UInt64 = 0, limit: Int) {
    self.subjectID = subjectID
    self.purposeID = purposeID
    self.after = after
    self.limit = limit
  }
}

/// A stored event that cannot be read back (a column holds a value no code wrote): evidence of
/// tampering, reported by verification rather than crashing a read.
public struct LedgerCorruption: Error, Equatable {
  public var sequence: UInt64
  public var column: String
}

/// Where the consent service keeps its data. One write is one `commit`, in one transaction; the
/// ledger itself is append-only (only erasure may clear the personal evidence columns).
public protocol ConsentStore: Sendable {
  func loadPurposes() async throws -> [Purpose]
  func loadMailingLists() async throws -> [MailingList]
  /// Events in sequence order.
  func events(_ query: EventQuery) async throws -> [LedgerEvent]
  func event(sequence: UInt64) async throws -> LedgerEvent?
  /// Events ordered by subject, then sequence, after the position (`subjectID`, `sequence`); nil
  /// starts at the first subject. For checking every subject's state against their events.
  func eventsBySubject(after position: (subjectID: String, sequence: UInt64)?, limit: Int) async throws -> [LedgerEvent]
  /// Runs `body` while no other process writes to the ledger, so that a write's catch-up, rules
  /// and commit see one ledger (PostgreSQL, several replicas). On SQLite, one process per file,
  /// the ledger's own write lock is enough and `body` just runs.
  func exclusively<T: Sendable>(_ body: () async throws -> T) async throws -> T
  /// Writes a commit in one transaction, the new states of the subjects it touched
  /// (`LedgerCommit.subjectStates`) included.
  func commit(_ commit: LedgerCommit) async throws
  /// Every subject's state as kept by the commits: each as of the subject's last event. Throws
  /// `SubjectStateUnreadable` when a kept state cannot be read.
  func subjectStates() async throws -> KeptSubjectStates
  /// Keeps states folded from the ledger by the service itself (the first start after an upgrade,
  /// or a rebuild); `replacingAll` first forgets every kept state.
  func saveSubjectStates(_ states: [String: SubjectState], replacingAll: Bool) async throws
  func confirmation(tokenHash: String) async throws -> Confirmation?
  /// Double opt-in confirmations expired by `now` that were neither used nor replaced, and whose
  /// expiry the ledger does not record yet, oldest expiry first.
  func lapsedDoubleOptIns(at now: Date, limit: Int) async throws -> [Confirmation]
  /// Outbox messages after `position` that `filter` lets through, oldest first.
  func outbox(after position: Int64, filter: OutboxFilter, limit: Int) async throws -> [OutboxMessage]
  /// Marks messages as sent and wipes their address, body and links; returns how many were newly
  /// acknowledged. An unknown id throws `ConsentError.outboxMessageNotFound` and acks nothing.
  func ackOutbox(ids: [String], at: Date) async throws -> Int
  /// Leases up to `limit` due messages (neither acknowledged nor failed, next attempt and any
  /// lease past at `now`) until `until`, oldest first; two callers never get the same message.
  func leaseOutbox(limit: Int, until: Date, now: Date) async throws -> [OutboxMessage]
  /// Records a failed attempt and ends the message's lease: due again at the report's retry time,
  /// or failed for good with its address, body and links wiped. An acknowledged or failed message
  /// is left as it is. An unknown id throws `ConsentError.outboxMessageNotFound`.
  func reportOutboxFailure(_ report: OutboxFailureReport, at: Date) async throws -> OutboxMessage
  /// How many of a subject's events carry personal evidence, and how many of their outbox
  /// messages still hold an address: what erasure is about to remove.
  func personalDataCounts(subjectID: String) async throws -> (events: Int, outboxMessages: Int)
  /// Keeps a new preference link (its token's hash, never the token).
  func insertPreferenceLink(_ link: PreferenceLink) async throws
  /// The link whose token has this hash, open or not; nil when there is none (or it was erased).
  func preferenceLink(tokenHash: String) async throws -> PreferenceLink?
  /// Revokes the subject's links that are not revoked yet; returns how many (expired ones count:
  /// revoking is about the token, whatever its age).
  func revokePreferenceLinks(subjectID: String, at: Date) async throws -> Int
  /// Deletes up to `limit` links that no longer open a page (expired by `now`, or revoked);
  /// returns how many.
  func deleteClosedPreferenceLinks(at now: Date, limit: Int) async throws -> Int
  /// Replaces the subject's attributes (what `ask_when` conditions read); erasure deletes them.
  func setSubjectAttributes(subjectID: String, attributes: [String: String], at: Date) async throws
  /// The subject's attributes; empty when none were set.
  func subjectAttributes(subjectID: String) async throws -> [String: String]
}
