public import Foundation
public import Logging
public import PrivacyKit
import Synchronization

/// The gateway's hash-chained audit log, written with group commit.
///
/// Every call awaits its own entry's commit before it is answered (fail-closed: if the entry
/// cannot be written, the call fails). A commit with `synchronous=FULL` costs about a quarter of
/// a millisecond of fsync, so entries are not committed one by one: callers enqueue their drafts,
/// one writer takes everything queued, chains and commits it in one transaction, and wakes each
/// caller of the batch. Under load a batch holds as many entries as calls arrived during the
/// previous commit; alone, a call pays one commit as before.
public final class AuditLog: Sendable {
  /// Most entries committed in one transaction.
  public static let maximumBatch = 512

  private struct Waiting {
    var draft: AuditDraft
    var committed: @Sendable (Result<AuditEntry, any Error>) -> Void
  }

  private struct State {
    /// The last entry this gateway committed (or the chain's end when it opened). Other gateways
    /// on the same database may have appended since: the store chains each batch after the head
    /// it reads in the batch's transaction, never after this one.
    var head: ChainHead
    var queue: [Waiting] = []
    var writing = false
    /// Commits so far and entries in them, for tests and metrics.
    var commits = 0
    var committedEntries = 0
  }

  private let store: any AuditStore
  private let key: AuditKey
  /// A checkpoint is signed each time the chain passes a multiple of this (`AUDIT_CHECKPOINT_EVERY`).
  private let checkpointEvery: UInt64
  private let now: @Sendable () -> Date
  private let logger: Logger
  private let state: Mutex<State>

  private init(
    store: any AuditStore, key: AuditKey, checkpointEvery: UInt64, head: ChainHead, now: @escaping @Sendable () -> Date, logger: Logger
  ) {
    self.store = store
    self.key = key
    self.checkpointEvery = max(1, checkpointEvery)
    self.now = now
    self.logger = logger
    self.state = Mutex(State(head: head))
  }

  public static let defaultCheckpointEvery: UInt64 = 1000

  /// Opens the log on a store, reading where the chain ends.
  public static func open(
    store: any AuditStore, key: AuditKey, checkpointEvery: UInt64 = defaultCheckpointEvery, now: @escaping @Sendable () -> Date = { Date() },
    logger: Logger
  ) async throws -> AuditLog {
    AuditLog(store: store, key: key, checkpointEvery: checkpointEvery, head: try await store.head(), now: now, logger: logger)
  }

  /// Appends one entry and returns it once it is committed; throws `AuditUnavailable` when it
  /// could not be written.
  public func record(_ draft: AuditDraft) async throws -> AuditEntry {
    try await withCheckedThrowingContinuation { continuation in
      record(draft) { continuation.resume(with: $0) }
    }
  }

  /// Appends one entry and calls `committed` once it is committed (or `AuditUnavailable` when it
  /// could not be written), from the writer's task: for a caller that must not wait in a task of
  /// its own (the gateway's checks answered on the event loop).
  public func record(_ draft: AuditDraft, committed: @escaping @Sendable (Result<AuditEntry, any Error>) -> Void) {
    let startWriter = state.withLock { state in
      state.queue.append(Waiting(draft: draft, committed: committed))
      if state.writing { return false }
      state.writing = true
      return true
    }
    if startWriter {
      Task { await self.drain() }
    }
  }

  /// Commits batches until the queue is empty.
  private func drain() async {
    while true {
      let batch: [Waiting]? = state.withLock { state in
        guard !state.queue.isEmpty else {
          state.writing = false
          return nil
        }
        let count = min(state.queue.count, Self.maximumBatch)
        let batch = Array(state.queue.prefix(count))
        state.queue.removeFirst(count)
        return batch
      }
      guard let batch else { return }
      await commit(batch)
    }
  }

  private func commit(_ batch: [Waiting]) async {
    do {
      let time = now()
      let drafts = batch.map(\.draft)
      let key = self.key
      let entries = try await store.append { head in
        var last = head
        return drafts.map { draft in
          let entry = AuditEntry(draft: draft, after: last, at: time, key: key)
          last = ChainHead(sequence: entry.sequence, hash: entry.hash)
          return entry
        }
      }
      // One entry per waiting call, or every call of the batch is refused (below), none left waiting.
      guard entries.count == batch.count, let first = entries.first, let lastEntry = entries.last else { throw AuditUnavailable() }
      let last = ChainHead(sequence: lastEntry.sequence, hash: lastEntry.hash)
      if last.sequence / checkpointEvery > (first.sequence - 1) / checkpointEvery { await checkpoint(last) }
      state.withLock { state in
        state.head = last
        state.commits += 1
        state.committedEntries += entries.count
      }
      for (waiting, entry) in zip(batch, entries) { waiting.committed(.success(entry)) }
    } catch {
      logger.error(
        "audit log write failed; refusing the calls it would have recorded",
        metadata: ["error.type": "\(type(of: error))", "audit.batch": "\(batch.count)"])
      for waiting in batch { waiting.committed(.failure(AuditUnavailable())) }
    }
  }

  /// The last entry this gateway committed.
  public var head: ChainHead { state.withLock { $0.head } }

  /// How many commits wrote how many entries since start (group commit at work).
  public var commitStatistics: (commits: Int, entries: Int) {
    state.withLock { ($0.commits, $0.committedEntries) }
  }

  /// Entries matching the query, newest first.
  public func entries(_ query: AuditQuery) async throws -> [AuditEntry] {
    do {
      return try await store.entries(query)
    } catch {
      logger.error("audit log read failed", metadata: ["error.type": "\(type(of: error))"])
      throw AuditUnavailable(reading: true)
    }
  }

  // MARK: Checkpoints

  /// Signs and stores a checkpoint of `head` (the current head when nil). Best effort: a
  /// checkpoint that cannot be written is logged, and the next one covers the chain again.
  public func checkpoint(_ head: ChainHead? = nil) async {
    let head = head ?? self.head
    guard head.sequence > 0 else { return }
    do {
      try await store.saveCheckpoint(try AuditCheckpoint(head: head, at: now(), key: key))
    } catch {
      logger.error("audit checkpoint not written", metadata: ["error.type": "\(type(of: error))", "audit.sequence": "\(head.sequence)"])
    }
  }

  /// Checkpoints after `sequence`, oldest first.
  public func checkpoints(after sequence: UInt64, limit: Int) async throws -> [AuditCheckpoint] {
    do {
      return try await store.checkpoints(after: sequence, limit: limit)
    } catch {
      logger.error("audit log read failed", metadata: ["error.type": "\(type(of: error))"])
      throw AuditUnavailable(reading: true)
    }
  }

  // MARK: Verification

  /// Recomputes the whole keyed chain and names the first broken entry. Each checkpoint given
  /// must be signed by this gateway's key (else INVALID_ARGUMENT); the chain must reach it (else
  /// it was truncated) and hold its hash there (else it was rebuilt).
  public func verify(checkpoints: [AuditCheckpoint] = []) async throws -> ChainVerification {
    if let foreign = checkpoints.first(where: { !$0.isSigned(by: key) }) {
      throw InvalidArgument("the checkpoint at entry \(foreign.sequence) is not signed by this gateway's audit key")
    }
    var verifier = ChainVerifier()
    // The head is read before the store: every entry it counts is committed, so the read below
    // sees it. Read after, it would count entries committed during the read and call them missing.
    let known = head.sequence
    let wanted = Dictionary(checkpoints.map { ($0.sequence, $0) }) { first, _ in first }
    var found: [UInt64: String] = [:]
    do {
      var after: UInt64 = 0
      while true {
        let rows = try await store.chain(after: after, limit: 1000)
        for row in rows {
          switch row {
          case .success(let entry):
            verifier.check(entry.verifiable(key: key))
            if wanted[entry.sequence] != nil { found[entry.sequence] = entry.hash }
            after = entry.sequence
          case .failure(let corruption):
            verifier.unreadable(sequence: corruption.sequence, column: corruption.column)
            after = max(after, corruption.sequence)
          }
        }
        guard rows.count == 1000 else { break }
      }
    } catch {
      logger.error("audit log read failed", metadata: ["error.type": "\(type(of: error))"])
      throw AuditUnavailable(reading: true)
    }
    verifier.finish(knownHead: max(known, checkpoints.map(\.sequence).max() ?? 0))
    var result = verifier.result
    if result.valid, let rebuilt = checkpoints.sorted(by: { $0.sequence < $1.sequence }).first(where: { found[$0.sequence] != $0.hash }) {
      result = ChainVerification(
        valid: false, entriesChecked: result.entriesChecked, firstBrokenSequence: rebuilt.sequence,
        problem: "entry \(rebuilt.sequence) does not hold the hash of the checkpoint signed at \(RFC3339.string(rebuilt.signedAt)): the chain was rebuilt",
        headHash: "")
    }
    return result
  }
}

/// The audit log cannot be written (or read): the call fails rather than go unrecorded.
public struct AuditUnavailable: PrivacyError {
  public static let errorDomain = "privacy.gateway.v1"
  public var reading = false
  public var statusCode: StatusCode { .unavailable }
  public var message: String {
    reading ? "the audit log cannot be read" : "the audit log cannot be written, so the answer is withheld"
  }
  public var reason: String? { "AUDIT_UNAVAILABLE" }
}
