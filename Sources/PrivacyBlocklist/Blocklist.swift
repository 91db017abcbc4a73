public import Foundation
public import Logging
public import PrivacyKit
import Synchronization

/// The blocklist service's core. Active entries live in memory keyed by their keyed hash, so a
/// check is one dictionary lookup per identifier and pepper; memory is rebuilt from the store at
/// start. Writes run under one lock: the store commits, then memory follows, so a write the
/// store refuses changes nothing. Replicas sharing a store follow each other's commits by change
/// number (`catchUp`), also under that lock, and each write catches up first, so it decides on
/// every entry committed before it began.
public final class Blocklist: Sendable {
  private struct Memory {
    var active: [KeyedHash: BlocklistEntry] = [:]
    /// The hash of each active entry by id: a removal read back from the store no longer has it.
    var hashByID: [String: KeyedHash] = [:]
    /// The last commit memory holds.
    var applied: UInt64 = 0

    /// Takes in an entry as it is now: active, or removed.
    mutating func apply(_ entry: BlocklistEntry) {
      if let hash = entry.hash {
        active[hash] = entry
        hashByID[entry.id] = hash
      } else if let hash = hashByID.removeValue(forKey: entry.id) {
        active[hash] = nil
      }
    }
  }

  private let store: any BlocklistStore
  private let keyring: PepperKeyring
  private let normalizer: Normalizer
  private let memory: Mutex<Memory>
  private let writes = AsyncLock()
  /// The clock; tests move it.
  public let now: @Sendable () -> Date

  private init(store: any BlocklistStore, keyring: PepperKeyring, normalizer: Normalizer, memory: Memory, now: @escaping @Sendable () -> Date) {
    self.store = store
    self.keyring = keyring
    self.normalizer = normalizer
    self.memory = Mutex(memory)
    self.now = now
  }

  /// Opens the blocklist: loads every active entry into memory. Warns (without failing) when
  /// active entries were hashed under a pepper that is no longer configured: they cannot match.
  public static func open(
    store: any BlocklistStore, keyring: PepperKeyring, normalizer: Normalizer, logger: Logger,
    now: @escaping @Sendable () -> Date = { Date() }
  ) async throws -> Blocklist {
    // The change number first: whatever commits during the load is read again by `catchUp`.
    var memory = Memory(applied: try await store.lastChange())
    for entry in try await store.activeEntries() { memory.apply(entry) }
    let configured = Set(keyring.ids)
    for (pepperID, count) in try await store.activeCountsByPepper() where !configured.contains(pepperID) {
      logger.warning(
        "active entries were hashed under a pepper that is not configured; they no longer match",
        metadata: ["blocklist.pepper_id": "\(pepperID)", "blocklist.entries": "\(count)"])
    }
    return Blocklist(store: store, keyring: keyring, normalizer: normalizer, memory: memory, now: now)
  }

  /// Normalizes a request's identifiers, all or nothing: the first one that cannot be normalized
  /// refuses the call, naming its position and kind (never its value).
  public func normalize(_ identifiers: [(kind: IdentifierKind, value: String)]) throws(BlocklistError) -> [NormalizedIdentifier] {
    var result: [NormalizedIdentifier] = []
    result.reserveCapacity(identifiers.count)
    for (index, identifier) in identifiers.enumerated() {
      do {
        result.append(try normalizer.normalize(identifier.value, kind: identifier.kind))
      } catch {
        throw .invalidIdentifier(index: index, kind: identifier.kind, problem: error.problem)
      }
    }
    return result
  }

  /// For each identifier, the active entry it matches under any configured pepper, if any. The
  /// hashing happens outside the memory lock; only the lookups hold it.
  private func lookup(_ identifiers: [NormalizedIdentifier]) -> [BlocklistEntry?] {
    let candidates = identifiers.map { identifier in keyring.peppers.map { $0.hash(identifier) } }
    return memory.withLock { memory in
      candidates.map { hashes in
        for hash in hashes {
          if let entry = memory.active[hash] { return entry }
        }
        return nil
      }
    }
  }

  // MARK: Reads

  /// One answer per identifier, in order: the active entry it matches, or nil. From memory.
  public func check(_ identifiers: [NormalizedIdentifier]) -> [BlocklistEntry?] {
    lookup(identifiers)
  }

  public func list(_ filter: EntryFilter, after cursor: EntryCursor?, limit: Int) async throws -> [BlocklistEntry] {
    try await store.entries(filter, after: cursor, limit: limit)
  }

  /// How many entries are active (memory), for tests and metrics.
  public var activeCount: Int { memory.withLock { $0.active.count } }

  // MARK: Following other replicas

  /// Applies what commits since the last one memory holds changed (other replicas' writes).
  public func catchUp() async throws {
    try await writes.withLock { try await applyChanges() }
  }

  /// Call with `writes` held.
  private func applyChanges() async throws {
    let changes = try await store.changes(after: memory.withLock { $0.applied })
    memory.withLock { memory in
      for entry in changes.entries { memory.apply(entry) }
      memory.applied = max(memory.applied, changes.through)
    }
  }

  // MARK: Writes

  /// Adds identifiers under the active pepper. One already active (under any pepper) or repeated
  /// in the call keeps its entry and counts as already present.
  public func add(
    _ identifiers: [NormalizedIdentifier], reason: String, requestID: String, caller: CallerIdentity
  ) async throws -> (added: Int, alreadyPresent: Int) {
    try await writes.withLock {
      // Writes are serialized, so what `lookup` sees stays true until this commit lands on one
      // replica. Two replicas adding one identifier at the same moment meet the store's unique
      // index: the later one catches up and decides again, finding the identifier present.
      for _ in 1..<Self.attemptsOnConflict {
        do {
          return try await addLocked(identifiers, reason: reason, requestID: requestID, caller: caller)
        } catch is BlocklistEntryConflict {
          continue
        }
      }
      return try await addLocked(identifiers, reason: reason, requestID: requestID, caller: caller)
    }
  }

  /// How often an add is decided again after another replica added one of its identifiers first.
  private static let attemptsOnConflict = 3

  /// Adds, with `writes` held.
  private func addLocked(
    _ identifiers: [NormalizedIdentifier], reason: String, requestID: String, caller: CallerIdentity
  ) async throws -> (added: Int, alreadyPresent: Int) {
    try await applyChanges()
    let existing = lookup(identifiers)
    let at = now().microsecondPrecision
    var commit = BlocklistCommit()
    var seen = Set<NormalizedIdentifier>()
    var alreadyPresent = 0
    for (identifier, entry) in zip(identifiers, existing) {
      guard seen.insert(identifier).inserted, entry == nil else {
        alreadyPresent += 1
        continue
      }
      let hash = keyring.active.hash(identifier)
      commit.added.append(
        BlocklistEntry(
          id: UUID().uuidString.lowercased(), kind: identifier.kind, hash: hash, hashPrefix: hash.prefix,
          pepperID: keyring.active.id, reason: reason, requestID: requestID, addedAt: at, addedBy: caller.actor))
    }
    if !commit.isEmpty {
      try await store.commit(commit)
      let added = commit.added
      memory.withLock { memory in
        for entry in added { memory.apply(entry) }
      }
    }
    return (commit.added.count, alreadyPresent)
  }

  /// Removes the active entries of these identifiers (under any pepper), recording why and by
  /// whom and discarding their full hash. Others count as not present.
  public func remove(
    _ identifiers: [NormalizedIdentifier], reason: String, caller: CallerIdentity
  ) async throws -> (removed: Int, notPresent: Int) {
    try await writes.withLock {
      try await applyChanges()
      let existing = lookup(identifiers)
      let removal = BlocklistEntry.Removal(at: now(), reason: reason, by: caller.actor)
      var commit = BlocklistCommit()
      var removedHashes = Set<KeyedHash>()
      var removedEntries: [BlocklistEntry] = []
      var notPresent = 0
      for entry in existing {
        guard let entry, let hash = entry.hash, removedHashes.insert(hash).inserted else {
          notPresent += 1
          continue
        }
        commit.removed.append((entry.id, removal))
        removedEntries.append(entry)
      }
      if !commit.isEmpty {
        try await store.commit(commit)
        memory.withLock { memory in
          for var entry in removedEntries {
            entry.hash = nil
            memory.apply(entry)
          }
        }
      }
      return (commit.removed.count, notPresent)
    }
  }
}
