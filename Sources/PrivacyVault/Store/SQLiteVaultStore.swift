import Foundation
public import GRDB
public import Logging
public import PrivacyKit

/// The vault store on SQLite (the embedded default). Values of encrypted fields and source IP
/// addresses reach the file only sealed; data keys only wrapped.
public struct SQLiteVaultStore: BlockingVaultReads {
  private let pool: DatabasePool
  private let logger: Logger

  /// - Parameter durable: see `SQLiteDatabase.open`.
  public init(path: String, logger: Logger, durable: Bool = true) throws {
    self.logger = logger
    self.pool = try SQLiteDatabase.open(path: path, migrator: Self.migrator, durable: durable)
  }

  /// The underlying pool, for tests that inspect the file.
  public var database: DatabasePool { pool }

  static var migrator: DatabaseMigrator {
    var migrator = DatabaseMigrator()
    migrator.registerMigration("v1") { db in
      try db.execute(sql: """
        CREATE TABLE fields (
          name TEXT PRIMARY KEY, classification TEXT NOT NULL, special_category TEXT NOT NULL,
          criminal_offence INTEGER NOT NULL, mask TEXT NOT NULL, encrypted INTEGER NOT NULL, searchable INTEGER NOT NULL,
          tags TEXT NOT NULL, generalization TEXT NOT NULL, description TEXT NOT NULL, created_at INTEGER NOT NULL,
          updated_at INTEGER NOT NULL);
        CREATE TABLE vault_keys (
          purpose TEXT PRIMARY KEY, key_id TEXT NOT NULL, kek_id TEXT NOT NULL, wrapped BLOB NOT NULL,
          created_at INTEGER NOT NULL);
        CREATE TABLE data_keys (
          subject_id TEXT PRIMARY KEY, key_id TEXT NOT NULL, kek_id TEXT NOT NULL, wrapped BLOB NOT NULL,
          created_at INTEGER NOT NULL);
        CREATE INDEX data_keys_by_kek ON data_keys(kek_id, subject_id);
        CREATE TABLE records (
          subject_id TEXT PRIMARY KEY, version INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
          restriction_reason TEXT, restricted_since INTEGER, human_review_reason TEXT, human_review_since INTEGER,
          erasure TEXT);
        CREATE TABLE record_values (
          subject_id TEXT NOT NULL REFERENCES records(subject_id), field TEXT NOT NULL REFERENCES fields(name),
          value_plain TEXT, value_sealed BLOB, key_id TEXT NOT NULL, blind_index BLOB, locked INTEGER NOT NULL,
          generalized INTEGER NOT NULL, updated_at INTEGER NOT NULL, source_channel TEXT, source_form_name TEXT,
          source_ip_sealed BLOB, source_actor_kind TEXT, source_captured_at INTEGER, source_actor TEXT,
          source_request_id TEXT,
          PRIMARY KEY (subject_id, field)) WITHOUT ROWID;
        CREATE INDEX record_values_by_field ON record_values(field, subject_id);
        CREATE INDEX record_values_by_blind_index ON record_values(field, blind_index, subject_id)
          WHERE blind_index IS NOT NULL;
        CREATE TABLE access_log (
          sequence INTEGER PRIMARY KEY, kind TEXT NOT NULL, subject_id TEXT NOT NULL, field TEXT NOT NULL,
          actor TEXT NOT NULL, role TEXT NOT NULL, reason TEXT NOT NULL, request_id TEXT NOT NULL, detail TEXT NOT NULL,
          occurred_at INTEGER NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
        CREATE INDEX access_log_by_subject ON access_log(subject_id, sequence);
        CREATE INDEX access_log_by_actor ON access_log(actor, sequence);
        CREATE INDEX access_log_by_field ON access_log(field, sequence);
        CREATE TRIGGER access_log_append_only_update BEFORE UPDATE ON access_log
          BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END;
        CREATE TRIGGER access_log_append_only_delete BEFORE DELETE ON access_log
          BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END;
        """)
    }
    migrator.registerMigration("v2") { db in
      // The k-anonymity counts (QuasiIdentifierCounts); `vault_settings` says which fields
      // they were built for. The first start after this migration builds them.
      try db.execute(sql: """
        CREATE TABLE quasi_identifier_counts (digest BLOB PRIMARY KEY, count INTEGER NOT NULL) WITHOUT ROWID;
        CREATE TABLE vault_settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
        """)
    }
    migrator.registerMigration("v3-pending-records") { db in
      // Records waiting for their double opt-in (RecordState.pending).
      try db.execute(sql: """
        ALTER TABLE records ADD COLUMN pending_reason TEXT;
        ALTER TABLE records ADD COLUMN pending_since INTEGER;
        """)
    }
    return migrator
  }

  // MARK: Reads

  public func loadFields() async throws -> [FieldDefinition] {
    try await pool.read { db in
      try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM fields ORDER BY name")).map(Self.field(from:))
    }
  }

  public func logHead() async throws -> ChainHead {
    try await pool.read { db in
      guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT sequence, hash FROM access_log ORDER BY sequence DESC LIMIT 1")) else {
        return .empty
      }
      return ChainHead(sequence: UInt64(row["sequence"] as Int64), hash: row["hash"])
    }
  }

  public func vaultKey(purpose: String) async throws -> WrappedKey? {
    try await pool.read { db in
      try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM vault_keys WHERE purpose = ?"), arguments: [purpose]).map { row in
        WrappedKey(
          purpose: row["purpose"], owner: Envelope.vaultOwner, keyID: row["key_id"], kekID: row["kek_id"],
          ciphertext: Array(row["wrapped"] as Data), createdAt: Microseconds(value: row["created_at"]).date)
      }
    }
  }

  public func record(_ subjectID: String) async throws -> StoredRecord? {
    try await pool.read { db in try Self.record(subjectID, db) }
  }

  public func recordBlocking(_ subjectID: String) throws -> StoredRecord? {
    try pool.read { db in try Self.record(subjectID, db) }
  }

  /// All in one read transaction: one consistent snapshot, and one trip to the pool.
  public func records(_ subjectIDs: [String]) async throws -> [StoredRecord?] {
    try await pool.read { db in try subjectIDs.map { try Self.record($0, db) } }
  }

  /// Rows are read through cursors, not copied: a copied row finds a column by name by
  /// lowercasing every column's name, which was 15% of a batch read's time.
  private static func record(_ subjectID: String, _ db: Database) throws -> StoredRecord? {
    let states = try Row.fetchCursor(db.cachedStatement(sql: "SELECT * FROM records WHERE subject_id = ?"), arguments: [subjectID])
    guard let state = try states.map(Self.state(from:)).next() else { return nil }
    let values = try Row.fetchCursor(
      db.cachedStatement(sql: "SELECT * FROM record_values WHERE subject_id = ? ORDER BY field"), arguments: [subjectID])
    return StoredRecord(state: state, values: try Array(values.map(Self.value(from:))), dataKey: try Self.dataKey(subjectID, db))
  }

  public func dataKey(_ subjectID: String) async throws -> WrappedKey? {
    try await pool.read { db in try Self.dataKey(subjectID, db) }
  }

  public func values(ofField field: String) async throws -> [StoredValue] {
    try await pool.read { db in
      try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM record_values WHERE field = ? ORDER BY subject_id"), arguments: [field])
        .map(Self.value(from:))
    }
  }

  public func fieldHasValues(_ field: String) async throws -> Bool {
    try await pool.read { db in
      try Bool.fetchOne(db.cachedStatement(sql: """
          SELECT EXISTS (SELECT 1 FROM record_values
            WHERE field = ? AND (value_plain IS NOT NULL OR value_sealed IS NOT NULL))
          """), arguments: [field]) ?? false
    }
  }

  public func pendingSubjects() async throws -> Set<String> {
    try await pool.read { db in
      Set(try String.fetchAll(db.cachedStatement(sql: "SELECT subject_id FROM records WHERE pending_since IS NOT NULL")))
    }
  }

  public func subjects(field: String, blindIndex: [UInt8], after: String?, limit: Int) async throws -> [String] {
    try await pool.read { db in
      try String.fetchAll(db.cachedStatement(sql: """
          SELECT subject_id FROM record_values WHERE field = ? AND blind_index = ? AND subject_id > ?
          ORDER BY subject_id LIMIT ?
          """), arguments: [field, Data(blindIndex), after ?? "", limit])
    }
  }

  public func accessLog(_ query: AccessLogQuery) async throws -> [AccessLogEntry] {
    var conditions = ["sequence > ?"]
    var arguments: [(any DatabaseValueConvertible)?] = [Int64(query.after)]
    if let before = query.before {
      conditions.append("sequence < ?")
      arguments.append(Int64(before))
    }
    if let subject = query.subjectID {
      conditions.append("subject_id = ?")
      arguments.append(subject)
    }
    if let actor = query.actor {
      conditions.append("actor = ?")
      arguments.append(actor)
    }
    if let field = query.field {
      conditions.append("field = ?")
      arguments.append(field)
    }
    if !query.kinds.isEmpty {
      conditions.append("kind IN (\(query.kinds.map { _ in "?" }.joined(separator: ", ")))")
      for kind in query.kinds { arguments.append(kind.rawValue) }
    }
    if let start = query.start {
      conditions.append("occurred_at >= ?")
      arguments.append(Microseconds(start).value)
    }
    if let end = query.end {
      conditions.append("occurred_at < ?")
      arguments.append(Microseconds(end).value)
    }
    arguments.append(query.limit)
    let sql = "SELECT * FROM access_log WHERE \(conditions.joined(separator: " AND ")) ORDER BY sequence LIMIT ?"
    let finalArguments = StatementArguments(arguments)
    return try await pool.read { db in
      try Row.fetchAll(db.cachedStatement(sql: sql), arguments: finalArguments).map(Self.entry(from:))
    }
  }

  public func dataKeys(notWrappedUnder kekID: String, limit: Int) async throws -> [WrappedKey] {
    try await pool.read { db in
      try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM data_keys WHERE kek_id != ? ORDER BY subject_id LIMIT ?"), arguments: [kekID, limit]
      ).map(Self.dataKey(from:))
    }
  }

  public func dataKeyCounts() async throws -> [String: Int] {
    try await pool.read { db in
      var counts: [String: Int] = [:]
      for row in try Row.fetchAll(db.cachedStatement(sql: "SELECT kek_id, COUNT(*) AS n FROM data_keys GROUP BY kek_id")) {
        counts[row["kek_id"]] = row["n"]
      }
      return counts
    }
  }

  public func quasiIdentifierCount(_ digest: [UInt8]) async throws -> Int {
    try await pool.read { db in
      try Int.fetchOne(db.cachedStatement(sql: "SELECT count FROM quasi_identifier_counts WHERE digest = ?"), arguments: [Data(digest)]) ?? 0
    }
  }

  public func quasiIdentifierCountedFields() async throws -> [String]? {
    try await pool.read { db in
      try String.fetchOne(db.cachedStatement(sql: "SELECT value FROM vault_settings WHERE name = ?"), arguments: [StoredColumns.countedFieldsSetting])
        .map { $0.split(separator: ",").map(String.init) }
    }
  }

  // MARK: Writes

  public func exclusively<T: Sendable>(_ body: () async throws -> T) async throws -> T {
    try await body()
  }

  public func commit(_ commit: VaultCommit) async throws {
    try await pool.write { db in
      for field in commit.fields { try Self.save(field, db) }
      for subject in commit.destroyedDataKeys {
        try db.cachedStatement(sql: "DELETE FROM data_keys WHERE subject_id = ?").execute(arguments: [subject])
      }
      for key in commit.dataKeys {
        try db.cachedStatement(sql: """
            INSERT INTO data_keys (subject_id, key_id, kek_id, wrapped, created_at) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT(subject_id) DO UPDATE SET key_id = excluded.key_id, kek_id = excluded.kek_id,
              wrapped = excluded.wrapped, created_at = excluded.created_at
            """).execute(arguments: [key.owner, key.keyID, key.kekID, Data(key.ciphertext), Microseconds(key.createdAt).value])
      }
      for key in commit.vaultKeys {
        try db.cachedStatement(sql: """
            INSERT INTO vault_keys (purpose, key_id, kek_id, wrapped, created_at) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT(purpose) DO UPDATE SET key_id = excluded.key_id, kek_id = excluded.kek_id,
              wrapped = excluded.wrapped, created_at = excluded.created_at
            """).execute(arguments: [key.purpose, key.keyID, key.kekID, Data(key.ciphertext), Microseconds(key.createdAt).value])
      }
      for state in commit.records { try Self.save(state, db) }
      for (subject, field) in commit.removedValues {
        try db.cachedStatement(sql: "DELETE FROM record_values WHERE subject_id = ? AND field = ?").execute(arguments: [subject, field])
      }
      for value in commit.values { try Self.save(value, db) }
      for subject in commit.discardedRecords {
        try db.cachedStatement(sql: "DELETE FROM record_values WHERE subject_id = ?").execute(arguments: [subject])
        try db.cachedStatement(sql: "DELETE FROM records WHERE subject_id = ?").execute(arguments: [subject])
      }
      if let rebuild = commit.quasiIdentifierCountRebuild { try Self.replace(rebuild, db) }
      if let fields = commit.quasiIdentifierCountedFields { try Self.setCountedFields(fields, db) }
      for (digest, change) in commit.quasiIdentifierCountChanges { try Self.changeCount(digest, by: change, db) }
      for entry in commit.log { try Self.insert(entry, db) }
    }
  }

  public func discardOldPageVersions() async {
    await SQLiteDatabase.discardOldPageVersions(pool, logger: logger)
  }

  private static func replace(_ counts: QuasiIdentifierCounts, _ db: Database) throws {
    try db.execute(sql: "DELETE FROM quasi_identifier_counts")
    for (digest, count) in counts.counts {
      try db.cachedStatement(sql: "INSERT INTO quasi_identifier_counts (digest, count) VALUES (?, ?)").execute(arguments: [Data(digest), count])
    }
    try setCountedFields(counts.fields, db)
  }

  private static func setCountedFields(_ fields: [String], _ db: Database) throws {
    try db.cachedStatement(sql: """
        INSERT INTO vault_settings (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value
        """).execute(arguments: [StoredColumns.countedFieldsSetting, fields.joined(separator: ",")])
  }

  private static func changeCount(_ digest: [UInt8], by change: Int, _ db: Database) throws {
    try db.cachedStatement(sql: """
        INSERT INTO quasi_identifier_counts (digest, count) VALUES (?, ?)
        ON CONFLICT(digest) DO UPDATE SET count = count + excluded.count
        """).execute(arguments: [Data(digest), change])
    if change < 0 {
      try db.cachedStatement(sql: "DELETE FROM quasi_identifier_counts WHERE digest = ? AND count <= 0").execute(arguments: [Data(digest)])
    }
  }

  private static func save(_ field: FieldDefinition, _ db: Database) throws {
    try db.cachedStatement(sql: """
        INSERT INTO fields (name, classification, special_category, criminal_offence, mask, encrypted, searchable, tags,
          generalization, description, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT(name) DO UPDATE SET classification = excluded.classification,
          special_category = excluded.special_category, criminal_offence = excluded.criminal_offence, mask = excluded.mask,
          encrypted = excluded.encrypted, searchable = excluded.searchable, tags = excluded.tags,
          generalization = excluded.generalization, description = excluded.description, updated_at = excluded.updated_at
        """).execute(arguments: [
        field.name, field.classification.rawValue, field.specialCategory?.rawValue ?? "", field.criminalOffence,
        field.mask.rawValue, field.encrypted, field.searchable, StoredColumns.tags(field),
        field.generalization?.text ?? "", field.description, Microseconds(field.createdAt).value,
        Microseconds(field.updatedAt).value,
      ])
  }

  private static func save(_ state: RecordState, _ db: Database) throws {
    let erasure = try StoredColumns.erasure(state.erasure)
    try db.cachedStatement(sql: """
        INSERT INTO records (subject_id, version, created_at, updated_at, restriction_reason, restricted_since,
          human_review_reason, human_review_since, erasure, pending_reason, pending_since)
          VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT(subject_id) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at,
          restriction_reason = excluded.restriction_reason, restricted_since = excluded.restricted_since,
          human_review_reason = excluded.human_review_reason, human_review_since = excluded.human_review_since,
          erasure = excluded.erasure, pending_reason = excluded.pending_reason, pending_since = excluded.pending_since
        """).execute(arguments: [
        state.subjectID, state.version, Microseconds(state.createdAt).value, Microseconds(state.updatedAt).value,
        state.restriction?.reason, state.restriction.map { Microseconds($0.since).value }, state.humanReview?.reason,
        state.humanReview.map { Microseconds($0.since).value }, erasure, state.pending?.reason,
        state.pending.map { Microseconds($0.since).value },
      ])
  }

  private static func save(_ value: StoredValue, _ db: Database) throws {
    let (plain, sealed) = StoredColumns.content(value)
    let source = value.source
    try db.cachedStatement(sql: """
        INSERT OR REPLACE INTO record_values (subject_id, field, value_plain, value_sealed, key_id, blind_index, locked,
          generalized, updated_at, source_channel, source_form_name, source_ip_sealed, source_actor_kind,
          source_captured_at, source_actor, source_request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """).execute(arguments: [
        value.subjectID, value.field, plain, sealed, value.keyID, value.blindIndex.map { Data($0) }, value.locked,
        value.generalized, Microseconds(value.updatedAt).value, source?.channel.rawValue, source?.formName,
        source?.sealedIP.map { Data($0) }, source?.actorKind.rawValue, source.map { Microseconds($0.capturedAt).value },
        source?.actor, source?.requestID,
      ])
  }

  private static func insert(_ entry: AccessLogEntry, _ db: Database) throws {
    try db.cachedStatement(sql: """
        INSERT INTO access_log (sequence, kind, subject_id, field, actor, role, reason, request_id, detail, occurred_at,
          prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """).execute(arguments: [
        Int64(entry.sequence), entry.kind.rawValue, entry.subjectID, entry.field, entry.actor, entry.role, entry.reason,
        entry.requestID, entry.detail, Microseconds(entry.occurredAt).value, entry.previousHash, entry.hash,
      ])
  }

  // MARK: Row decoding

  private static func field(from row: Row) throws -> FieldDefinition {
    try StoredColumns.field(
      name: row["name"], classification: row["classification"], specialCategory: row["special_category"],
      criminalOffence: row["criminal_offence"], mask: row["mask"], encrypted: row["encrypted"], searchable: row["searchable"],
      tags: row["tags"], generalization: row["generalization"], description: row["description"], createdAt: row["created_at"],
      updatedAt: row["updated_at"])
  }

  private static func state(from row: Row) throws -> RecordState {
    let subjectID: String = row["subject_id"]
    func flag(_ reason: String, _ since: String) -> RecordFlag? {
      guard let text = row[reason] as String?, let at = row[since] as Int64? else { return nil }
      return RecordFlag(reason: text, since: Microseconds(value: at).date)
    }
    let erasure = try StoredColumns.erasure(row["erasure"] as String?, subjectID: subjectID)
    return RecordState(
      subjectID: subjectID, version: row["version"], createdAt: Microseconds(value: row["created_at"]).date,
      updatedAt: Microseconds(value: row["updated_at"]).date, restriction: flag("restriction_reason", "restricted_since"),
      humanReview: flag("human_review_reason", "human_review_since"), erasure: erasure,
      pending: flag("pending_reason", "pending_since"))
  }

  private static func value(from row: Row) throws -> StoredValue {
    let subjectID: String = row["subject_id"]
    let field: String = row["field"]
    var content: StoredValue.Content?
    if let sealed = row["value_sealed"] as Data? {
      content = .sealed(Array(sealed))
    } else if let plain = row["value_plain"] as String? {
      content = .plain(plain)
    }
    var source: StoredSource?
    if let channelText = row["source_channel"] as String? {
      guard let channel = Channel(rawValue: channelText), let actorKind = ActorKind(rawValue: row["source_actor_kind"] ?? "") else {
        throw VaultError.storedRecordCorrupt(subjectID: subjectID, column: "record_values.source of \(field)")
      }
      source = StoredSource(
        channel: channel, formName: row["source_form_name"] ?? "", sealedIP: (row["source_ip_sealed"] as Data?).map { Array($0) },
        actorKind: actorKind, capturedAt: Microseconds(value: row["source_captured_at"] ?? 0).date,
        actor: row["source_actor"] ?? "", requestID: row["source_request_id"] ?? "")
    }
    return StoredValue(
      subjectID: subjectID, field: field, content: content, keyID: row["key_id"],
      blindIndex: (row["blind_index"] as Data?).map { Array($0) }, locked: row["locked"], generalized: row["generalized"],
      updatedAt: Microseconds(value: row["updated_at"]).date, source: source)
  }

  private static func dataKey(_ subjectID: String, _ db: Database) throws -> WrappedKey? {
    try Row.fetchCursor(db.cachedStatement(sql: "SELECT * FROM data_keys WHERE subject_id = ?"), arguments: [subjectID]).map(dataKey(from:)).next()
  }

  private static func dataKey(from row: Row) -> WrappedKey {
    WrappedKey(
      purpose: Envelope.dataKeyPurpose, owner: row["subject_id"], keyID: row["key_id"], kekID: row["kek_id"],
      ciphertext: Array(row["wrapped"] as Data), createdAt: Microseconds(value: row["created_at"]).date)
  }

  private static func entry(from row: Row) throws -> AccessLogEntry {
    let sequence = UInt64(row["sequence"] as Int64)
    guard let kind = AccessKind(rawValue: row["kind"]) else { throw AccessLogCorruption(sequence: sequence, column: "kind") }
    return AccessLogEntry(
      sequence: sequence, kind: kind, subjectID: row["subject_id"], field: row["field"], actor: row["actor"],
      role: row["role"], reason: row["reason"], requestID: row["request_id"], detail: row["detail"],
      occurredAt: Microseconds(value: row["occurred_at"]).date, previousHash: row["prev_hash"], hash: row["hash"])
  }
}
