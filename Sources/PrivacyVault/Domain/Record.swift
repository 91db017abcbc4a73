public import Foundation
public import PrivacyKit

/// A flag with why and since when it is set (restriction, human review).
public struct RecordFlag: Sendable, Equatable {
  public var reason: String
  public var since: Date

  public init(reason: String, since: Date) {
    self.reason = reason
    self.since = since
  }
}

/// The record-level state of a subject (everything but the values).
public struct RecordState: Sendable, Equatable {
  public var subjectID: String
  /// Increases by one with every call that changes the record.
  public var version: Int64
  public var createdAt: Date
  public var updatedAt: Date
  public var restriction: RecordFlag?
  public var humanReview: RecordFlag?
  /// Set once ErasePersonalData ran; holds the outcome returned to repeated calls.
  public var erasure: ErasureOutcome?
  /// Set while the record waits for its double opt-in: values all sealed, none indexed, the
  /// record refused to reads and ordinary writes until released.
  public var pending: RecordFlag?

  public init(subjectID: String, createdAt: Date) {
    self.subjectID = subjectID
    self.version = 0
    self.createdAt = createdAt
    self.updatedAt = createdAt
  }

  public init(
    subjectID: String, version: Int64, createdAt: Date, updatedAt: Date, restriction: RecordFlag?, humanReview: RecordFlag?,
    erasure: ErasureOutcome?, pending: RecordFlag? = nil
  ) {
    self.subjectID = subjectID
    self.version = version
    self.createdAt = createdAt
    self.updatedAt = updatedAt
    self.restriction = restriction
    self.humanReview = humanReview
    self.erasure = erasure
    self.pending = pending
  }

  /// The record may be used (read, searched, written without `pending`): it is not pending.
  public func checkUsable() throws(VaultError) {
    if pending != nil { throw .recordPending(subjectID) }
  }

  /// A write to values or locks may proceed: the record is neither restricted nor (for value
  /// writes) erased.
  public func checkWritable(values: Bool) throws(VaultError) {
    if restriction != nil { throw .recordRestricted(subjectID) }
    if values, erasure != nil { throw .recordErased(subjectID) }
  }

  /// Marks one change: the version moves on and the update time follows.
  public mutating func touch(at now: Date) {
    version += 1
    updatedAt = now
  }
}

/// Where a value came from (data-source tracking), in clear.
public struct ValueSource: Sendable, Equatable {
  public var channel: Channel
  public var formName: String
  /// Personal data: stored encrypted under the subject's data key, removed by erasure.
  public var ipAddress: String
  public var actorKind: ActorKind
  public var capturedAt: Date
  /// Who wrote the value, from the caller's identity.
  public var actor: String
  public var requestID: String

  public init(
    channel: Channel, formName: String = "", ipAddress: String = "", actorKind: ActorKind = .unspecified, capturedAt: Date,
    actor: String = "", requestID: String = ""
  ) {
    self.channel = channel
    self.formName = formName
    self.ipAddress = ipAddress
    self.actorKind = actorKind
    self.capturedAt = capturedAt.microsecondPrecision
    self.actor = actor
    self.requestID = requestID
  }
}

/// One field of a record in clear, as the vault holds it in memory while serving a call.
public struct FieldEntry: Sendable, Equatable {
  public var field: String
  /// nil when the field holds no value (it is locked).
  public var value: String?
  public var source: ValueSource?
  public var locked: Bool
  public var generalized: Bool
  public var updatedAt: Date

  public init(field: String, value: String?, source: ValueSource?, locked: Bool, generalized: Bool, updatedAt: Date) {
    self.field = field
    self.value = value
    self.source = source
    self.locked = locked
    self.generalized = generalized
    self.updatedAt = updatedAt
  }

  /// A row is kept while it holds a value or a lock.
  public var isEmpty: Bool { value == nil && !locked }
}

/// A subject's record in clear: state and entries by field name.
public struct OpenRecord: Sendable, Equatable {
  public var state: RecordState
  public var entries: [String: FieldEntry]

  public init(state: RecordState, entries: [String: FieldEntry]) {
    self.state = state
    self.entries = entries
  }

  /// Entries ordered by field name.
  public var sortedEntries: [FieldEntry] { entries.values.sorted { $0.field < $1.field } }
}
