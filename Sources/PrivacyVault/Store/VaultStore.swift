public import Foundation
public import PrivacyKit

/// One stored field value of a record: the value clear (fields not encrypted) or sealed under
/// the subject's data key, its blind-index digest when the field is searchable, lock and
/// generalization flags, and its source (IP address sealed).
public struct StoredValue: Sendable, Equatable {
  public enum Content: Sendable, Equatable {
    case plain(String)
    case sealed([UInt8])
  }

  public var subjectID: String
  public var field: String
  /// nil when the field holds no value (the row is kept for its lock).
  public var content: Content?
  /// Id of the data key that sealed this row's bytes (value or source IP); empty when none.
  public var keyID: String
  public var blindIndex: [UInt8]?
  public var locked: Bool
  public var generalized: Bool
  public var updatedAt: Date
  public var source: StoredSource?

  public init(
    subjectID: String, field: String, content: Content?, keyID: String, blindIndex: [UInt8]?, locked: Bool,
    generalized: Bool, updatedAt: Date, source: StoredSource?
  ) {
    self.subjectID = subjectID
    self.field = field
    self.content = content
    self.keyID = keyID
    self.blindIndex = blindIndex
    self.locked = locked
    self.generalized = generalized
    self.updatedAt = updatedAt
    self.source = source
  }
}

/// A value's source as stored: the IP address sealed under the subject's data key.
public struct StoredSource: Sendable, Equatable {
  public var channel: Channel
  public var formName: String
  public var sealedIP: [UInt8]?
  public var actorKind: ActorKind
  public var capturedAt: Date
  public var actor: String
  public var requestID: String

  public init(
    channel: Channel, formName: String, sealedIP: [UInt8]?, actorKind: ActorKind, capturedAt: Date, actor: String,
    requestID: String
  ) {
    self.channel = channel
    self.formName = formName
    self.sealedIP = sealedIP
    self.actorKind = actorKind
    self.capturedAt = capturedAt
    self.actor = actor
    self.requestID = requestID
  }
}

/// A subject's record as stored: state, value rows and the wrapped data key (nil when the
/// subject never needed one, or it was destroyed and nothing kept needed a new one).
public struct StoredRecord: Sendable, Equatable {
  public var state: RecordState
  public var values: [StoredValue]
  public var dataKey: WrappedKey?

  public init(state: RecordState, values: [StoredValue], dataKey: WrappedKey?) {
    self.state = state
    self.values = values
    self.dataKey = dataKey
  }
}

/// Everything one write changes, committed by the store in a single transaction, in this
/// order: fields, destroyed data keys, new or rewrapped data keys, vault keys, records, removed
/// values, written values, discarded records, k-anonymity counts, access-log entries (sealed here, in order, after
/// `head`).
public struct VaultCommit: Sendable {
  public let now: Date
  public let caller: CallerIdentity
  public private(set) var head: ChainHead
  public private(set) var log: [AccessLogEntry] = []

  public var fields: [FieldDefinition] = []
  /// Subjects whose data key is destroyed (crypto-shredding).
  public var destroyedDataKeys: [String] = []
  public var dataKeys: [WrappedKey] = []
  public var vaultKeys: [WrappedKey] = []
  public var records: [RecordState] = []
  public var removedValues: [(subjectID: String, field: String)] = []
  /// Records removed altogether with their values (a pending record whose double opt-in expired).
  public var discardedRecords: [String] = []
  public var values: [StoredValue] = []
  /// Replaces every k-anonymity count, applied before `quasiIdentifierCountChanges` (the counted
  /// fields changed, or the counts were never built).
  public var quasiIdentifierCountRebuild: QuasiIdentifierCounts?
  /// The counted fields change without changing any count (the field added or removed holds no
  /// value).
  public var quasiIdentifierCountedFields: [String]?
  /// Changes to the k-anonymity counts: combination digest -> records added (negative: removed).
  public var quasiIdentifierCountChanges: [[UInt8]: Int] = [:]
  /// Fold the WAL into the database afterwards so old page versions (erased values, destroyed
  /// keys) leave the disk.
  public var discardOldPageVersions = false

  public init(head: ChainHead, now: Date, caller: CallerIdentity) {
    self.head = head
    self.now = now.microsecondPrecision
    self.caller = caller
  }

  public var isEmpty: Bool {
    log.isEmpty && fields.isEmpty && destroyedDataKeys.isEmpty && dataKeys.isEmpty && vaultKeys.isEmpty && records.isEmpty
      && removedValues.isEmpty && discardedRecords.isEmpty && values.isEmpty && quasiIdentifierCountRebuild == nil
      && quasiIdentifierCountedFields == nil && quasiIdentifierCountChanges.isEmpty
  }

  /// Adds count changes to those already in the commit.
  public mutating func changeQuasiIdentifierCounts(_ changes: [[UInt8]: Int]) {
    quasiIdentifierCountChanges.merge(changes, uniquingKeysWith: +)
    quasiIdentifierCountChanges = quasiIdentifierCountChanges.filter { $0.value != 0 }
  }

  /// Seals a draft as the next access-log entry and returns it.
  @discardableResult
  public mutating func log(_ draft: AccessDraft) -> AccessLogEntry {
    let entry = AccessLogEntry(draft: draft, after: head, at: now, caller: caller)
    log.append(entry)
    head = ChainHead(sequence: entry.sequence, hash: entry.hash)
    return entry
  }
}

/// Where the vault keeps its data. One write is one `commit`, in one transaction. The access
/// log is append-only.
public protocol VaultStore: Sendable {
  func loadFields() async throws -> [FieldDefinition]
  func logHead() async throws -> ChainHead
  /// A vault-wide wrapped key (`Envelope.blindIndexPurpose`), nil before the first start.
  func vaultKey(purpose: String) async throws -> WrappedKey?
  func record(_ subjectID: String) async throws -> StoredRecord?
  /// The records of several subjects, in the order asked, nil where there is none, read in one
  /// snapshot (a batch read).
  func records(_ subjectIDs: [String]) async throws -> [StoredRecord?]
  func dataKey(_ subjectID: String) async throws -> WrappedKey?
  /// Every stored row of a field (with or without a value), ordered by subject id.
  func values(ofField field: String) async throws -> [StoredValue]
  func fieldHasValues(_ field: String) async throws -> Bool
  /// Subjects whose record is pending (waiting for its double opt-in).
  func pendingSubjects() async throws -> Set<String>
  /// How many records hold the quasi-identifier combination with this digest.
  func quasiIdentifierCount(_ digest: [UInt8]) async throws -> Int
  /// The counted fields the stored k-anonymity counts were built for; nil when never built.
  func quasiIdentifierCountedFields() async throws -> [String]?
  /// Subjects whose value of `field` has this blind-index digest, after `after`, in order.
  func subjects(field: String, blindIndex: [UInt8], after: String?, limit: Int) async throws -> [String]
  /// Entries in sequence order; throws `AccessLogCorruption` for a row it cannot read.
  func accessLog(_ query: AccessLogQuery) async throws -> [AccessLogEntry]
  /// Data keys not wrapped under `kekID`, ordered by subject id.
  func dataKeys(notWrappedUnder kekID: String, limit: Int) async throws -> [WrappedKey]
  /// How many data keys each key-encryption key wraps.
  func dataKeyCounts() async throws -> [String: Int]
  /// Runs `body` while no other process writes to the vault, so that a write's catch-up, rules
  /// and commit see one state (PostgreSQL, several replicas). On SQLite, one process per file,
  /// the vault's own write lock is enough and `body` just runs.
  func exclusively<T: Sendable>(_ body: () async throws -> T) async throws -> T
  /// Commits in one transaction. Where other processes write too (PostgreSQL), a commit whose
  /// first access-log entry does not follow the log's last one fails with `AccessLogHeadMoved`
  /// and writes nothing.
  func commit(_ commit: VaultCommit) async throws
  /// Folds the write-ahead log into the database and truncates it (best effort, logged).
  func discardOldPageVersions() async
}

/// A store that reads on the calling thread (SQLite): the vault's GetRecord is then read on NIO's
/// blocking thread pool instead of in a task (`VaultHandler.synchronousMethods`).
public protocol BlockingVaultReads: VaultStore {
  /// `record(_:)`, on the calling thread.
  func recordBlocking(_ subjectID: String) throws -> StoredRecord?
}

/// A commit made on an access-log head that is no longer the last: another writer appended
/// first. Nothing of the commit was written.
public struct AccessLogHeadMoved: Error, Equatable {
  /// The sequence the commit was made after, and the one the log ends at.
  public var expected: UInt64
  public var found: UInt64

  public init(expected: UInt64, found: UInt64) {
    self.expected = expected
    self.found = found
  }
}

