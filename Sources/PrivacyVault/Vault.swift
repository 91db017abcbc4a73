import Crypto
public import Foundation
public import Logging
public import PrivacyKit
import Synchronization

/// Settings of the vault beyond the common ones.
public struct VaultSettings: Sendable {
  /// The key-encryption keys (`VAULT_MASTER_KEY` / `VAULT_MASTER_KEY_FILE`).
  public var keyring: Keyring
  /// The variable the keyring came from, named in start-up errors.
  public var keyringVariable: String
  /// Records sharing an erased record's quasi-identifiers below this count get them generalized
  /// (`VAULT_K_ANONYMITY`, default 5).
  public var kAnonymityThreshold: Int

  public init(keyring: Keyring, keyringVariable: String = "VAULT_MASTER_KEY", kAnonymityThreshold: Int = 5) {
    self.keyring = keyring
    self.keyringVariable = keyringVariable
    self.kAnonymityThreshold = kAnonymityThreshold
  }
}

/// The vault's core. Every write runs under one lock: its rules are checked against the state
/// the store holds (no other write can change it meanwhile), the store commits it in one
/// transaction together with its access-log entries, and only then does memory (the field
/// schema and the log head) change. A write the store refuses changes nothing. Reads go to the
/// store without the lock; values are opened in memory for the duration of a call only.
///
/// Beside other replicas (PostgreSQL) each write also holds the store's writer lock
/// (`exclusively`) and first reads the schema and the log head as the others left them; between
/// writes, `catchUp` keeps the schema current for reads.
public final class Vault: Sendable {
  private struct Memory {
    var fields: [String: FieldDefinition] = [:]
    var head = ChainHead.empty
  }

  private let store: any VaultStore
  private let memory: Mutex<Memory>
  private let writes = AsyncLock()
  /// Other replicas write to the same store.
  private let followsReplicas: Bool
  private let keyring: Keyring

  /// The keyring's ids, the active one first (never key material).
  public var keyIDs: (active: String, all: [String]) { (keyring.activeKeyID, keyring.keyIDs) }
  private let blindIndex: BlindIndex
  private let kAnonymityThreshold: Int
  private let logger: Logger
  /// The clock; tests move it.
  public let now: @Sendable () -> Date

  private init(
    store: any VaultStore, memory: Memory, followsReplicas: Bool, keyring: Keyring, blindIndex: BlindIndex,
    kAnonymityThreshold: Int, logger: Logger, now: @escaping @Sendable () -> Date
  ) {
    self.store = store
    self.followsReplicas = followsReplicas
    self.memory = Mutex(memory)
    self.keyring = keyring
    self.blindIndex = blindIndex
    self.kAnonymityThreshold = kAnonymityThreshold
    self.logger = logger
    self.now = now
  }

  /// Opens the vault: loads the schema and the log head, and opens (or, on the first start,
  /// creates) the blind-index key. A keyring that cannot open it stops start-up with a
  /// `ConfigurationError` naming the keyring's variable. `followsReplicas`: other processes
  /// write to the same store.
  public static func open(
    store: any VaultStore, settings: VaultSettings, followsReplicas: Bool = false, logger: Logger,
    now: @escaping @Sendable () -> Date = { Date() }
  ) async throws -> Vault {
    var memory = Memory()
    for field in try await store.loadFields() { memory.fields[field.name] = field }
    memory.head = try await store.logHead()
    // Under the writer lock, so replicas starting at once agree on one blind-index key.
    let indexKey = try await store.exclusively {
      try await openIndexKey(store: store, settings: settings, now: now())
    }
    for (kekID, count) in try await store.dataKeyCounts() where settings.keyring.key(id: kekID) == nil {
      logger.warning(
        "data keys are wrapped under a key missing from the keyring; their records cannot be opened",
        metadata: ["vault.key_id": "\(kekID)", "vault.data_keys": "\(count)"])
    }
    let vault = Vault(
      store: store, memory: memory, followsReplicas: followsReplicas, keyring: settings.keyring,
      blindIndex: BlindIndex(key: indexKey), kAnonymityThreshold: settings.kAnonymityThreshold, logger: logger, now: now)
    try await vault.buildQuasiIdentifierCountsIfStale()
    return vault
  }

  /// The blind-index key, created and stored on the first start.
  private static func openIndexKey(store: any VaultStore, settings: VaultSettings, now: Date) async throws -> SymmetricKey {
    let keyring = settings.keyring
    if let wrapped = try await store.vaultKey(purpose: Envelope.blindIndexPurpose) {
      do {
        return try Envelope.unwrap(wrapped, keyring: keyring)
      } catch {
        switch error {
        case .keyNotConfigured(let keyID, _):
          throw ConfigurationError.malformed(
            settings.keyringVariable, "has no key \(keyID), which wraps the vault's blind-index key: add it back to the keyring")
        default:
          throw ConfigurationError.malformed(
            settings.keyringVariable, "key \(wrapped.kekID) does not open the vault's blind-index key: wrong key material")
        }
      }
    }
    let (id, key) = Envelope.newKey()
    // No access-log entry: the commit's head is never checked.
    var commit = VaultCommit(head: .empty, now: now, caller: .system)
    commit.vaultKeys = [
      Envelope.wrap(key, keyID: id, purpose: Envelope.blindIndexPurpose, owner: Envelope.vaultOwner, keyring: keyring, now: commit.now)
    ]
    try await store.commit(commit)
    return key
  }

  // MARK: Write path

  /// Runs one write: `body` checks rules and fills the commit; the store commits it; memory
  /// follows.
  private func write<T: Sendable>(_ caller: CallerIdentity, _ body: (inout VaultCommit) async throws -> T) async throws -> T {
    try await locked(caller, body)
  }

  private func locked<T: Sendable>(_ caller: CallerIdentity, _ body: (inout VaultCommit) async throws -> T) async throws -> T {
    let (result, committed) = try await serialized(
      { () async throws -> (T, VaultCommit?) in
        var commit = VaultCommit(head: memory.withLock { $0.head }, now: now(), caller: caller)
        let result = try await body(&commit)
        guard !commit.isEmpty else { return (result, nil) }
        try await store.commit(commit)
        return (result, commit)
      },
      afterwards: { _, committed in
        guard let committed else { return }
        memory.withLock { memory in
          for field in committed.fields { memory.fields[field.name] = field }
          memory.head = committed.head
        }
        if committed.discardOldPageVersions { await store.discardOldPageVersions() }
      })
    return result
  }

  /// Runs `body` as the only writer: under the vault's lock and, beside other replicas, the
  /// store's writer lock, with memory first brought up to what they committed.
  private func serialized<T: Sendable>(_ body: () async throws -> T) async throws -> T {
    try await serialized(body, afterwards: { _ in })
  }

  /// As `serialized(_:)`, then `afterwards` with what `body` returned, still under the vault's
  /// lock but after the store's (on PostgreSQL: once the write's transaction committed), which
  /// is when memory may follow the write.
  private func serialized<T: Sendable>(_ body: () async throws -> T, afterwards: (T) async -> Void) async throws -> T {
    try await writes.withLock {
      let result = try await store.exclusively {
        if followsReplicas { try await reloadFromStore() }
        return try await body()
      }
      await afterwards(result)
      return result
    }
  }

  /// Reads the schema and the log head as the other replicas left them. Call with `writes` held.
  private func reloadFromStore() async throws {
    let fields = try await store.loadFields()
    let head = try await store.logHead()
    memory.withLock { memory in
      memory.fields = Dictionary(uniqueKeysWithValues: fields.map { ($0.name, $0) })
      memory.head = head
    }
  }

  /// Takes in what other replicas committed (their field schema changes; `ReplicaFollower` calls
  /// this on each of their notifications and periodically).
  public func catchUp() async throws {
    try await writes.withLock { try await reloadFromStore() }
  }

  private var schema: [String: FieldDefinition] { memory.withLock { $0.fields } }

  private func definition(_ name: String) throws(VaultError) -> FieldDefinition {
    guard let field = memory.withLock({ $0.fields[name] }) else { throw .fieldNotFound(name) }
    return field
  }

  /// Refuses names that are not defined fields, naming the first (INVALID_ARGUMENT: the request
  /// names a field that does not exist).
  private func requireDefined(_ names: some Sequence<String>, field: String) throws(InvalidArgument) {
    let schema = self.schema
    for name in names.sorted() where schema[name] == nil {
      throw InvalidArgument("\(field) names unknown field \"\(name.clipped)\"")
    }
  }

  private func existingRecord(_ subjectID: String) async throws -> StoredRecord {
    guard let stored = try await store.record(subjectID) else { throw VaultError.subjectNotFound(subjectID) }
    return stored
  }

  // MARK: Opening and sealing

  private func subjectKey(_ wrapped: WrappedKey?) throws(VaultError) -> SubjectKey? {
    guard let wrapped else { return nil }
    return SubjectKey(subjectID: wrapped.owner, keyID: wrapped.keyID, key: try Envelope.unwrap(wrapped, keyring: keyring))
  }

  private func open(_ value: StoredValue, key: SubjectKey?) throws(VaultError) -> FieldEntry {
    func unreadable() -> VaultError { .valueUnreadable(subjectID: value.subjectID, field: value.field) }
    var clear: String?
    switch value.content {
    case .plain(let text)?: clear = text
    case .sealed(let bytes)?:
      guard let key else { throw unreadable() }
      clear = try key.open(bytes, field: value.field, storedKeyID: value.keyID)
    case nil: clear = nil
    }
    var source: ValueSource?
    if let stored = value.source {
      var ip = ""
      if let sealed = stored.sealedIP {
        guard let key else { throw unreadable() }
        ip = try key.open(sealed, field: value.field, storedKeyID: value.keyID, slot: .sourceIP)
      }
      source = ValueSource(
        channel: stored.channel, formName: stored.formName, ipAddress: ip, actorKind: stored.actorKind,
        capturedAt: stored.capturedAt, actor: stored.actor, requestID: stored.requestID)
    }
    return FieldEntry(
      field: value.field, value: clear, source: source, locked: value.locked, generalized: value.generalized,
      updatedAt: value.updatedAt)
  }

  /// The record in clear. Any value that fails to open fails the whole read (DATA_LOSS).
  private func open(_ stored: StoredRecord) throws(VaultError) -> (record: OpenRecord, key: SubjectKey?) {
    let key = try subjectKey(stored.dataKey)
    var entries: [String: FieldEntry] = [:]
    for value in stored.values {
      do {
        entries[value.field] = try open(value, key: key)
      } catch {
        logger.error(
          "a stored value fails to open", metadata: ["subject.id": "\(value.subjectID)", "vault.field": "\(value.field)"])
        throw error
      }
    }
    return (OpenRecord(state: stored.state, entries: entries), key)
  }

  /// Seals the entries of one subject, creating its data key the first time one is needed.
  private struct Sealer {
    let subjectID: String
    var key: SubjectKey?
    var newKey: WrappedKey?

    mutating func requireKey(_ keyring: Keyring, now: Date) -> SubjectKey {
      if let key { return key }
      let (id, raw) = Envelope.newKey()
      newKey = Envelope.wrap(raw, keyID: id, purpose: Envelope.dataKeyPurpose, owner: subjectID, keyring: keyring, now: now)
      let key = SubjectKey(subjectID: subjectID, keyID: id, key: raw)
      self.key = key
      return key
    }
  }

  /// Stores an entry as its field says: sealed when the field is encrypted, with a search digest
  /// when it is searchable. A `pending` record's values are all sealed and none has a digest.
  private func seal(
    _ entry: FieldEntry, subjectID: String, definition: FieldDefinition, pending: Bool, sealer: inout Sealer, now: Date
  ) -> StoredValue {
    var keyID = ""
    var content: StoredValue.Content?
    if let value = entry.value {
      if definition.encrypted || pending {
        let key = sealer.requireKey(keyring, now: now)
        content = .sealed(key.seal(value, field: entry.field))
        keyID = key.keyID
      } else {
        content = .plain(value)
      }
    }
    var source: StoredSource?
    if let clear = entry.source {
      var sealedIP: [UInt8]?
      if !clear.ipAddress.isEmpty {
        let key = sealer.requireKey(keyring, now: now)
        sealedIP = key.seal(clear.ipAddress, field: entry.field, slot: .sourceIP)
        keyID = key.keyID
      }
      source = StoredSource(
        channel: clear.channel, formName: clear.formName, sealedIP: sealedIP, actorKind: clear.actorKind,
        capturedAt: clear.capturedAt, actor: clear.actor, requestID: clear.requestID)
    }
    return StoredValue(
      subjectID: subjectID, field: entry.field, content: content, keyID: keyID,
      blindIndex: definition.searchable && !pending ? entry.value.map { blindIndex.digest(field: entry.field, value: $0) } : nil,
      locked: entry.locked, generalized: entry.generalized, updatedAt: entry.updatedAt, source: source)
  }

  // MARK: Field schema

  public func upsertField(_ draft: FieldDraft, caller: CallerIdentity) async throws -> (field: FieldDefinition, created: Bool) {
    try await write(caller) { commit in
      let existing = memory.withLock { $0.fields[draft.name] }
      var hasValues = false
      if existing != nil { hasValues = try await store.fieldHasValues(draft.name) }
      let field = try FieldRules.define(draft, existing: existing, hasValues: hasValues, now: commit.now)
      if let existing, FieldRules.sameContent(field, existing) { return (existing, false) }
      commit.fields.append(field)
      try await recountIfCountedFieldsChange(with: field, hasValues: hasValues, into: &commit)
      if let existing, field.encrypted != existing.encrypted || field.searchable != existing.searchable {
        try await restore(field, encrypting: field.encrypted && !existing.encrypted, into: &commit)
      }
      return (field, existing == nil)
    }
  }

  /// Rewrites every stored value of a field after its encryption was turned on (values sealed)
  /// or its search changed (digests added or dropped).
  private func restore(_ field: FieldDefinition, encrypting: Bool, into commit: inout VaultCommit) async throws {
    let pending = try await store.pendingSubjects()
    for row in try await store.values(ofField: field.name) {
      var sealer = Sealer(subjectID: row.subjectID, key: try subjectKey(try await store.dataKey(row.subjectID)))
      let entry = try open(row, key: sealer.key)
      commit.values.append(
        seal(entry, subjectID: row.subjectID, definition: field, pending: pending.contains(row.subjectID), sealer: &sealer, now: commit.now))
      if let newKey = sealer.newKey { commit.dataKeys.append(newKey) }
    }
    // The values were in clear in the file until now; fold old page versions away.
    if encrypting { commit.discardOldPageVersions = true }
  }

  public func listFields(tag: String?, page: PageRequest) -> (fields: [FieldDefinition], nextCursor: String?) {
    let cursor = page.cursor ?? ""
    let matching = schema.values.filter { field in field.name > cursor && (tag == nil || field.tags.contains(tag!)) }
      .sorted { $0.name < $1.name }
    let items = Array(matching.prefix(page.size))
    return (items, matching.count > page.size ? items.last?.name : nil)
  }

  // MARK: Records

  public struct PutOutcome: Sendable {
    public var version: Int64
    public var created: Bool
    public var changedFields: [String]
    public var pending: Bool
  }

  /// Creates the record if absent and sets the given values (an empty string removes one).
  /// `source` carries what the request said; the actor and request id come from `caller`.
  /// `updateOnly`: refuse (subject not found) rather than create the record. `pending`: create
  /// it pending (a contact waiting for its double opt-in), or write to one that is.
  public func putRecord(
    subjectID: String, values: [String: String], source: ValueSource, updateOnly: Bool = false, pending: Bool = false,
    caller: CallerIdentity
  ) async throws -> PutOutcome {
    try requireDefined(values.keys, field: "values")
    return try await write(caller) { commit in
      try put(
        subjectID: subjectID, stored: try await store.record(subjectID), values: values, source: source, updateOnly: updateOnly,
        pending: pending, caller: caller, into: &commit)
    }
  }

  /// `putRecord` for many subjects in one transaction: one commit and one sync for the batch,
  /// the access log chained through it. For bulk loads such as the seeder. The subjects must be
  /// distinct, because every record is read before any of the batch is written.
  public func putRecords(
    _ batch: [(subjectID: String, values: [String: String])], source: ValueSource, caller: CallerIdentity
  ) async throws -> [PutOutcome] {
    guard Set(batch.map(\.subjectID)).count == batch.count else { throw InvalidArgument("a batch names one subject twice") }
    for record in batch { try requireDefined(record.values.keys, field: "values") }
    return try await write(caller) { commit in
      // The batch's records in one read: one trip to the pool, not one a record.
      let stored = try await store.records(batch.map(\.subjectID))
      var outcomes: [PutOutcome] = []
      for (record, stored) in zip(batch, stored) {
        outcomes.append(
          try put(subjectID: record.subjectID, stored: stored, values: record.values, source: source, caller: caller, into: &commit))
      }
      return outcomes
    }
  }

  /// One record's part of a put, given what the store holds for the subject: checks, seals and
  /// logs into `commit`.
  private func put(
    subjectID: String, stored: StoredRecord?, values: [String: String], source: ValueSource, updateOnly: Bool = false,
    pending: Bool = false, caller: CallerIdentity, into commit: inout VaultCommit
  ) throws -> PutOutcome {
    let schema = self.schema
    if updateOnly && stored == nil { throw VaultError.subjectNotFound(subjectID) }
    var record = OpenRecord(state: RecordState(subjectID: subjectID, createdAt: commit.now), entries: [:])
    if pending { record.state.pending = RecordFlag(reason: "awaiting double opt-in confirmation", since: commit.now) }
    var key: SubjectKey?
    if let stored { (record, key) = try open(stored) }
    if !pending { try record.state.checkUsable() }
    try record.state.checkWritable(values: true)
    let sealPending = record.state.pending != nil
    for name in values.keys.sorted() where record.entries[name]?.locked == true {
      throw VaultError.fieldLocked(subjectID: subjectID, field: name)
    }
    var source = source
    source.actor = caller.actor
    source.requestID = caller.requestID
    var sealer = Sealer(subjectID: subjectID, key: key)
    var changed: [String] = []
    for (name, value) in values.sorted(by: { $0.key < $1.key }) {
      let previous = record.entries[name]?.value
      if value.isEmpty {
        guard previous != nil else { continue }
        commit.removedValues.append((subjectID, name))
        commit.log(AccessDraft(.rectification, subjectID: subjectID, field: name))
      } else {
        guard previous != value else { continue }
        let entry = FieldEntry(field: name, value: value, source: source, locked: false, generalized: false, updatedAt: commit.now)
        commit.values.append(seal(entry, subjectID: subjectID, definition: schema[name]!, pending: sealPending, sealer: &sealer, now: commit.now))
        commit.log(AccessDraft(previous == nil ? .write : .rectification, subjectID: subjectID, field: name))
      }
      changed.append(name)
    }
    if let newKey = sealer.newKey { commit.dataKeys.append(newKey) }
    let before = record.entries.compactMapValues(\.value)
    countChange(from: before, to: before.merging(values) { _, new in new }.filter { !$0.value.isEmpty }, schema: schema, into: &commit)
    if stored == nil || !changed.isEmpty {
      record.state.touch(at: commit.now)
      commit.records.append(record.state)
    }
    return PutOutcome(version: record.state.version, created: stored == nil, changedFields: changed, pending: sealPending)
  }

  /// The record with SENSITIVE values masked; a pending record's state only, without its values.
  public func record(subjectID: String) async throws -> RecordView {
    try view(of: try await existingRecord(subjectID))
  }

  /// `record(subjectID:)` read on the calling thread, when the store can (SQLite); nil for a
  /// store that must be awaited (PostgreSQL).
  public var blockingRecordReader: (@Sendable (_ subjectID: String) throws -> RecordView)? {
    guard let store = store as? any BlockingVaultReads else { return nil }
    return { subjectID in
      guard let stored = try store.recordBlocking(subjectID) else { throw VaultError.subjectNotFound(subjectID) }
      return try self.view(of: stored)
    }
  }

  /// Records as `record(subjectID:)` shows them, in the order asked; nil where the vault holds
  /// no record for the subject.
  public func records(subjectIDs: [String]) async throws -> [RecordView?] {
    try await store.records(subjectIDs).map { stored throws(VaultError) in try stored.map(view(of:)) }
  }

  /// How GetRecord shows a stored record.
  private func view(of stored: StoredRecord) throws(VaultError) -> RecordView {
    if stored.state.pending != nil { return RecordView(state: stored.state, fields: []) }
    return try open(stored).record.view(schema: schema, masking: true)
  }

  /// Makes a pending record usable: every value stored again as its field says (sealed or not,
  /// with its search digest). Nothing changes when the record is not pending.
  public func releaseRecord(subjectID: String, reason: String, caller: CallerIdentity) async throws -> (released: Bool, version: Int64) {
    try await write(caller) { commit in
      let stored = try await existingRecord(subjectID)
      guard stored.state.pending != nil else { return (false, stored.state.version) }
      let schema = self.schema
      let (record, key) = try open(stored)
      var sealer = Sealer(subjectID: subjectID, key: key)
      for entry in record.sortedEntries {
        guard let definition = schema[entry.field] else { continue }
        commit.values.append(seal(entry, subjectID: subjectID, definition: definition, pending: false, sealer: &sealer, now: commit.now))
      }
      if let newKey = sealer.newKey { commit.dataKeys.append(newKey) }
      var state = stored.state
      state.pending = nil
      state.touch(at: commit.now)
      commit.records.append(state)
      commit.log(AccessDraft(.release, subjectID: subjectID, reason: reason))
      // Values of fields not encrypted were sealed while pending; nothing to fold away.
      return (true, state.version)
    }
  }

  /// One field's clear value, after its REVEAL entry is committed to the access log.
  public func reveal(
    subjectID: String, field: String, reason: String, caller: CallerIdentity
  ) async throws -> (value: String, entry: AccessLogEntry) {
    _ = try definition(field)
    return try await write(caller) { commit in
      let stored = try await existingRecord(subjectID)
      try stored.state.checkUsable()
      guard let row = stored.values.first(where: { $0.field == field }), row.content != nil else {
        throw VaultError.noValue(subjectID: subjectID, field: field)
      }
      guard let value = try open(row, key: try subjectKey(stored.dataKey)).value else {
        throw VaultError.noValue(subjectID: subjectID, field: field)
      }
      let entry = commit.log(AccessDraft(.reveal, subjectID: subjectID, field: field, reason: reason))
      return (value, entry)
    }
  }

  /// The record in clear, after one EXPORT entry per exported field (or one record-level entry
  /// when it holds no value) is committed to the access log.
  public func export(subjectID: String, reason: String, caller: CallerIdentity) async throws -> (record: RecordView, at: Date) {
    try await write(caller) { commit in
      let view = try open(try await existingRecord(subjectID)).record.view(schema: schema, masking: false)
      let exported = view.fields.filter { $0.entry.value != nil }.map(\.entry.field)
      for field in exported.isEmpty ? [""] : exported {
        commit.log(AccessDraft(.export, subjectID: subjectID, field: field, reason: reason))
      }
      return (view, commit.now)
    }
  }

  /// Records whose value of a searchable field matches `value` after normalization, through the
  /// blind index.
  public func find(field: String, value: String, page: PageRequest) async throws -> (records: [RecordView], nextCursor: String?) {
    let definition = try definition(field)
    guard definition.searchable else { throw VaultError.fieldNotSearchable(field) }
    let digest = blindIndex.digest(field: field, value: value)
    let subjects = try await store.subjects(field: field, blindIndex: digest, after: page.cursor, limit: page.fetchLimit)
    let schema = self.schema
    var records: [RecordView] = []
    for case let stored? in try await store.records(Array(subjects.prefix(page.size))) where stored.state.pending == nil {
      records.append(try open(stored).record.view(schema: schema, masking: true))
    }
    return (records, subjects.count > page.size ? subjects.prefix(page.size).last : nil)
  
  }

  /// A keyed digest of a search, for page-token scopes (never the value, nor a plain hash of it).
  public func searchDigest(field: String, value: String) -> String {
    blindIndex.digest(field: field, value: value).prefix(16).hex
  }

  // MARK: Erasure and locks

  public struct EraseFieldsOutcome: Sendable {
    public var version: Int64
    public var erasedFields: [String]
    public var lockedFields: [String]
  }

  public func eraseFields(
    subjectID: String, fields: [String], lock: Bool, reason: String, caller: CallerIdentity
  ) async throws -> EraseFieldsOutcome {
    try requireDefined(fields, field: "fields")
    return try await write(caller) { commit in
      let stored = try await existingRecord(subjectID)
      var state = stored.state
      try state.checkWritable(values: false)
      let rows = Dictionary(stored.values.map { ($0.field, $0) }, uniquingKeysWith: { first, _ in first })
      var erased: [String] = []
      var changed = false
      for name in Set(fields).sorted() {
        let row = rows[name]
        let hadValue = row?.content != nil
        let wasLocked = row?.locked ?? false
        if hadValue {
          erased.append(name)
          commit.log(AccessDraft(.erasure, subjectID: subjectID, field: name, reason: reason))
        }
        if lock && !wasLocked { commit.log(AccessDraft(.lock, subjectID: subjectID, field: name, reason: reason)) }
        guard hadValue || (lock && !wasLocked) else { continue }
        changed = true
        if lock || wasLocked {
          commit.values.append(
            StoredValue(
              subjectID: subjectID, field: name, content: nil, keyID: "", blindIndex: nil, locked: true, generalized: false,
              updatedAt: commit.now, source: nil))
        } else {
          commit.removedValues.append((subjectID, name))
        }
      }
      if changed {
        state.touch(at: commit.now)
        commit.records.append(state)
      }
      let schema = self.schema
      if erased.contains(where: { schema[$0]?.countsForKAnonymity == true }) {
        let before = countedValues(stored, schema: schema)
        countChange(from: before, to: before.filter { !erased.contains($0.key) }, schema: schema, into: &commit)
      }
      if !erased.isEmpty { commit.discardOldPageVersions = true }
      return EraseFieldsOutcome(version: state.version, erasedFields: erased, lockedFields: lock ? Set(fields).sorted() : [])
    }
  }

  public func unlockFields(
    subjectID: String, fields: [String], reason: String, caller: CallerIdentity
  ) async throws -> (version: Int64, unlocked: [String]) {
    try requireDefined(fields, field: "fields")
    return try await write(caller) { commit in
      let stored = try await existingRecord(subjectID)
      var state = stored.state
      try state.checkWritable(values: false)
      var unlocked: [String] = []
      for name in Set(fields).sorted() {
        guard var row = stored.values.first(where: { $0.field == name }), row.locked else { continue }
        unlocked.append(name)
        commit.log(AccessDraft(.unlock, subjectID: subjectID, field: name, reason: reason))
        if row.content == nil {
          commit.removedValues.append((subjectID, name))
        } else {
          row.locked = false
          commit.values.append(row)
        }
      }
      if !unlocked.isEmpty {
        state.touch(at: commit.now)
        commit.records.append(state)
      }
      return (state.version, unlocked)
    }
  }

  public struct ErasureResult: Sendable {
    public var outcome: ErasureOutcome
    public var alreadyErased: Bool
    public var version: Int64
  }

  /// Erases every PERSONAL and SENSITIVE value, destroys the subject's data key, removes source
  /// IP addresses from what is kept, marks the record erased, then runs the k-anonymity check.
  /// `onlyIfPending`: discard a record still pending (its double opt-in expired), refusing with
  /// `recordNotPending` one released meanwhile.
  public func erasePersonalData(
    subjectID: String, reason: String, onlyIfPending: Bool = false, caller: CallerIdentity
  ) async throws -> ErasureResult {
    try await write(caller) { commit in
      let stored = try await existingRecord(subjectID)
      if onlyIfPending {
        guard stored.state.pending != nil else { throw VaultError.recordNotPending(subjectID) }
        return discardPending(stored, reason: reason, into: &commit)
      }
      if let outcome = stored.state.erasure {
        return ErasureResult(outcome: outcome, alreadyErased: true, version: stored.state.version)
      }
      try stored.state.checkWritable(values: false)
      let schema = self.schema
      var (record, _) = try open(stored)
      var erased: [String] = []
      var retained: [String] = []
      // Values kept are sealed again under a new data key: the old one is destroyed.
      var sealer = Sealer(subjectID: subjectID, key: nil)
      for entry in record.sortedEntries {
        guard let definition = schema[entry.field] else { continue }
        var entry = entry
        if entry.value != nil {
          if definition.classification.isPersonalData {
            erased.append(entry.field)
            entry.value = nil
            entry.source = nil
            entry.generalized = false
            entry.updatedAt = commit.now
          } else {
            retained.append(entry.field)
            entry.source?.ipAddress = ""
          }
        }
        record.entries[entry.field] = entry
      }

      // k-anonymity over the quasi-identifiers that remain.
      var quasi: [String: String] = [:]
      var rules: [String: GeneralizationRule] = [:]
      for name in retained {
        guard let definition = schema[name], definition.isQuasiIdentifier, let value = record.entries[name]?.value else { continue }
        quasi[name] = value
        rules[name] = definition.generalization
      }
      var k = 0
      if !quasi.isEmpty { k = try await store.quasiIdentifierCount(blindIndex.combinationDigest(quasi)) }
      let (check, changes) = KAnonymity.decide(values: quasi, rules: rules, k: k, threshold: kAnonymityThreshold)
      let before = record.entries.compactMapValues(\.value)
      for (name, newValue) in changes {
        record.entries[name]?.value = newValue
        record.entries[name]?.generalized = newValue != nil
        record.entries[name]?.updatedAt = commit.now
        if newValue == nil { record.entries[name]?.source = nil }
      }
      countChange(from: before, to: record.entries.compactMapValues(\.value), schema: schema, into: &commit)

      let keyDestroyed = stored.dataKey != nil
      if keyDestroyed { commit.destroyedDataKeys.append(subjectID) }
      for entry in record.sortedEntries {
        guard let definition = schema[entry.field] else { continue }
        if entry.isEmpty {
          commit.removedValues.append((subjectID, entry.field))
        } else {
          commit.values.append(
            seal(entry, subjectID: subjectID, definition: definition, pending: stored.state.pending != nil, sealer: &sealer, now: commit.now))
        }
      }
      if let newKey = sealer.newKey { commit.dataKeys.append(newKey) }

      let outcome = ErasureOutcome(
        erasedFields: erased, retainedFields: retained, keyDestroyed: keyDestroyed, erasedAt: commit.now, reason: reason,
        kAnonymity: check)
      var state = stored.state
      state.erasure = outcome
      state.touch(at: commit.now)
      commit.records.append(state)
      commit.log(
        AccessDraft(.erasure, subjectID: subjectID, reason: reason, detail: "erased_fields=\(erased.joined(separator: ","))"))
      for result in check.fields where result.action != .untouched {
        let detail = result.action == .generalized ? result.rule!.text : result.rule.map { "erased: value not parseable by \($0.text)" } ?? "erased: no rule"
        commit.log(AccessDraft(.generalization, subjectID: subjectID, field: result.field, reason: reason, detail: detail))
      }
      commit.discardOldPageVersions = true
      return ErasureResult(outcome: outcome, alreadyErased: false, version: state.version)
    }
  }

  /// A pending record whose double opt-in expired unconfirmed goes altogether: its values, its
  /// data key and the record itself, so that the person may sign up again afresh. The access log
  /// keeps one ERASURE entry.
  private func discardPending(_ stored: StoredRecord, reason: String, into commit: inout VaultCommit) -> ErasureResult {
    let subjectID = stored.state.subjectID
    let schema = self.schema
    countChange(from: countedValues(stored, schema: schema), to: [:], schema: schema, into: &commit)
    let erased = stored.values.filter { $0.content != nil }.map(\.field).sorted()
    let keyDestroyed = stored.dataKey != nil
    if keyDestroyed { commit.destroyedDataKeys.append(subjectID) }
    commit.discardedRecords.append(subjectID)
    commit.log(AccessDraft(
      .erasure, subjectID: subjectID, reason: reason, detail: "erased_fields=\(erased.joined(separator: ",")); record discarded"))
    commit.discardOldPageVersions = true
    let check = KAnonymityCheck(outcome: .noQuasiIdentifiers, k: 0, threshold: UInt64(kAnonymityThreshold), fields: [])
    let outcome = ErasureOutcome(
      erasedFields: erased, retainedFields: [], keyDestroyed: keyDestroyed, erasedAt: commit.now, reason: reason, kAnonymity: check)
    return ErasureResult(outcome: outcome, alreadyErased: false, version: stored.state.version + 1)
  }

  // MARK: k-anonymity counts

  /// Builds the k-anonymity counts from every stored value when they were built for other
  /// fields than the schema counts (the first start with counts, or a schema changed by an
  /// older binary).
  private func buildQuasiIdentifierCountsIfStale() async throws {
    try await serialized {
      let fields = QuasiIdentifierCounts.countedFields(schema.values)
      guard try await store.quasiIdentifierCountedFields() != fields else { return }
      var commit = VaultCommit(head: memory.withLock { $0.head }, now: now(), caller: .system)
      commit.quasiIdentifierCountRebuild = try await quasiIdentifierCounts(fields: fields)
      try await store.commit(commit)
      logger.info("k-anonymity counts built", metadata: ["vault.counted_fields": "\(fields.count)"])
    }
  }

  /// When `field` changes the set of counted fields: rebuilds the counts if it holds values (its
  /// combinations must appear or go), else records the new set only (it adds no combination).
  private func recountIfCountedFieldsChange(with field: FieldDefinition, hasValues: Bool, into commit: inout VaultCommit) async throws {
    var schema = self.schema
    let before = QuasiIdentifierCounts.countedFields(schema.values)
    schema[field.name] = field
    let after = QuasiIdentifierCounts.countedFields(schema.values)
    guard after != before else { return }
    if after.count > QuasiIdentifierCounts.maximumCountedFields { throw VaultError.tooManyQuasiIdentifiers(field: field.name) }
    if hasValues {
      commit.quasiIdentifierCountRebuild = try await quasiIdentifierCounts(fields: after)
    } else {
      commit.quasiIdentifierCountedFields = after
    }
  }

  private func quasiIdentifierCounts(fields: [String]) async throws -> QuasiIdentifierCounts {
    var counts = QuasiIdentifierCounts(fields: fields, counts: [:])
    for values in try await quasiIdentifierPopulation(fields: fields).values { counts.add(values, index: blindIndex) }
    return counts
  }

  /// A stored record's counted values, each opened alone: one that fails to open is left out, as
  /// the rebuild leaves it out, so an unreadable value elsewhere in the record cannot stop a
  /// write that opens nothing else.
  private func countedValues(_ stored: StoredRecord, schema: [String: FieldDefinition]) -> [String: String] {
    let key = try? subjectKey(stored.dataKey)
    var values: [String: String] = [:]
    for row in stored.values where row.content != nil && schema[row.field]?.countsForKAnonymity == true {
      values[row.field] = countableValue(row, key: key)
    }
    return values
  }

  /// A stored quasi-identifier's value alone (its source is not opened), or nil, logged, when it
  /// fails to open: it cannot be shown to share anything, so it is not counted.
  private func countableValue(_ row: StoredValue, key: SubjectKey?) -> String? {
    var valueOnly = row
    valueOnly.source = nil
    guard let value = try? open(valueOnly, key: key).value else {
      logger.warning(
        "a quasi-identifier fails to open; it is not counted", metadata: ["subject.id": "\(row.subjectID)", "vault.field": "\(row.field)"])
      return nil
    }
    return value
  }

  /// Adds to the commit the count changes of one record whose values (field -> value) go from
  /// `before` to `after`.
  private func countChange(
    from before: [String: String], to after: [String: String], schema: [String: FieldDefinition], into commit: inout VaultCommit
  ) {
    func counted(_ values: [String: String]) -> [String: String] {
      values.filter { schema[$0.key]?.countsForKAnonymity == true }
    }
    commit.changeQuasiIdentifierCounts(QuasiIdentifierCounts.changes(before: counted(before), after: counted(after), index: blindIndex))
  }

  /// Every record's values of the given fields (subject -> field -> value), opened as needed
  /// (`countableValue`).
  private func quasiIdentifierPopulation(fields: [String]) async throws -> [String: [String: String]] {
    var population: [String: [String: String]] = [:]
    var keys: [String: SubjectKey?] = [:]
    for field in fields {
      for row in try await store.values(ofField: field) where row.content != nil {
        let key: SubjectKey?
        if case .sealed? = row.content {
          if let cached = keys[row.subjectID] {
            key = cached
          } else {
            key = try? subjectKey(try await store.dataKey(row.subjectID))
            keys[row.subjectID] = key
          }
        } else {
          key = nil
        }
        guard let value = countableValue(row, key: key) else { continue }
        population[row.subjectID, default: [:]][field] = value
      }
    }
    return population
  }

  // MARK: Flags

  public struct FlagOutcome: Sendable {
    public var flag: RecordFlag?
    public var changed: Bool
    public var version: Int64
  }

  public func setRestriction(subjectID: String, restricted: Bool, reason: String, caller: CallerIdentity) async throws -> FlagOutcome {
    try await setFlag(subjectID: subjectID, on: restricted, reason: reason, flag: \.restriction, kinds: (.restrict, .unrestrict), caller: caller)
  }

  public func setHumanReview(subjectID: String, on: Bool, reason: String, caller: CallerIdentity) async throws -> FlagOutcome {
    try await setFlag(
      subjectID: subjectID, on: on, reason: reason, flag: \.humanReview, kinds: (.humanReviewSet, .humanReviewCleared), caller: caller)
  }

  private func setFlag(
    subjectID: String, on: Bool, reason: String, flag: WritableKeyPath<RecordState, RecordFlag?>,
    kinds: (set: AccessKind, cleared: AccessKind), caller: CallerIdentity
  ) async throws -> FlagOutcome {
    try await write(caller) { commit in
      var state = try await existingRecord(subjectID).state
      if (state[keyPath: flag] != nil) == on {
        return FlagOutcome(flag: state[keyPath: flag], changed: false, version: state.version)
      }
      state[keyPath: flag] = on ? RecordFlag(reason: reason, since: commit.now) : nil
      state.touch(at: commit.now)
      commit.records.append(state)
      commit.log(AccessDraft(on ? kinds.set : kinds.cleared, subjectID: subjectID, reason: reason))
      return FlagOutcome(flag: state[keyPath: flag], changed: true, version: state.version)
    }
  }

  // MARK: Access log

  public func accessLog(_ query: AccessLogQuery) async throws -> [AccessLogEntry] {
    do {
      return try await store.accessLog(query)
    } catch let corruption as AccessLogCorruption {
      throw VaultError.storedRecordCorrupt(subjectID: "(access log)", column: "\(corruption.column) of entry \(corruption.sequence)")
    }
  
  }

  /// Recomputes the whole chain, also noticing entries missing from its end while the service
  /// runs.
  public func verifyAccessLog() async throws -> ChainVerification {
    try await verifyChain()
  }

  private func verifyChain() async throws -> ChainVerification {
    var verifier = ChainVerifier()
    var after: UInt64 = 0
    let knownHead = memory.withLock { $0.head.sequence }
    while true {
      let batch: [AccessLogEntry]
      do {
        batch = try await store.accessLog(AccessLogQuery(after: after, limit: 1000))
      } catch let corruption as AccessLogCorruption {
        // Check the readable entries before the unreadable one first: an earlier break wins.
        var upTo = AccessLogQuery(after: after, limit: 1000)
        upTo.before = corruption.sequence
        let readable = try await store.accessLog(upTo)
        for entry in readable where !verifier.check(entry) { return verifier.result }
        verifier.unreadable(sequence: corruption.sequence, column: corruption.column)
        return verifier.result
      }
      guard let last = batch.last else { break }
      for entry in batch where !verifier.check(entry) { return verifier.result }
      after = last.sequence
    }
    verifier.finish(knownHead: knownHead)
    return verifier.result
  }

  // MARK: Keys

  public struct RotationOutcome: Sendable {
    public var activeKeyID: String
    public var rewrapped: UInt64
    public var unchanged: UInt64
  }

  /// Rewraps every data key (and the blind-index key) not under the active key-encryption key,
  /// in batches, each under the write lock for a moment only, so the service keeps serving.
  public func rotateMasterKey() async throws -> RotationOutcome {
    try await rewrapAll()
  }

  private func rewrapAll() async throws -> RotationOutcome {
    let active = keyring.activeKeyID
    let unchanged = UInt64(try await store.dataKeyCounts()[active] ?? 0)
    try await serialized {
      guard let wrapped = try await store.vaultKey(purpose: Envelope.blindIndexPurpose), wrapped.kekID != active else { return }
      var commit = VaultCommit(head: memory.withLock { $0.head }, now: now(), caller: .system)
      commit.vaultKeys = [try Envelope.rewrap(wrapped, keyring: keyring)]
      try await store.commit(commit)
    }
    var rewrapped: UInt64 = 0
    while true {
      let (count, failure) = try await serialized { () async throws -> (Int, VaultError?) in
        let batch = try await store.dataKeys(notWrappedUnder: active, limit: 256)
        var commit = VaultCommit(head: memory.withLock { $0.head }, now: now(), caller: .system)
        var failure: VaultError?
        for wrapped in batch {
          do throws(VaultError) {
            commit.dataKeys.append(try Envelope.rewrap(wrapped, keyring: keyring))
          } catch {
            failure = error
            break
          }
        }
        if !commit.dataKeys.isEmpty { try await store.commit(commit) }
        return (commit.dataKeys.count, failure)
      }
      rewrapped += UInt64(count)
      if let failure {
        logger.error("key rotation stopped", metadata: ["vault.rewrapped": "\(rewrapped)", "error": "\(failure.message)"])
        throw failure
      }
      if count == 0 { break }
    }
    logger.info("key rotation finished", metadata: ["vault.key_id": "\(active)", "vault.rewrapped": "\(rewrapped)"])
    return RotationOutcome(activeKeyID: active, rewrapped: rewrapped, unchanged: unchanged)
  }
}

extension CallerIdentity {
  /// The vault itself, for writes no caller asked for (start-up, key rotation).
  static let system = CallerIdentity(actor: "vault", role: "system", requestID: "")
}
