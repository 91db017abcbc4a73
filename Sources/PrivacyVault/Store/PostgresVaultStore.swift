public import Foundation
public import Logging
import PostgresNIO
public import PrivacyKit

/// The vault store on PostgreSQL, for vaults that run as several replicas on one database: the
/// same tables as on SQLite, prefixed `vault_`. Values of encrypted fields and source IP
/// addresses reach the database only sealed; data keys only wrapped. A commit's access-log
/// entries are inserted only if the first follows the log's last one (`append`), so replicas
/// never fork the chain. A commit that changes the field schema notifies `vault_changes`, which
/// the other replicas follow.
public struct PostgresVaultStore: VaultStore {
  public let database: PostgresPool

  public static func open(_ settings: PostgresSettings, logger: Logger) async throws -> PostgresVaultStore {
    PostgresVaultStore(database: try await PostgresPool.open(settings, service: "vault", migrations: migrations, logger: logger))
  }

  private init(database: PostgresPool) { self.database = database }

  private var logger: Logger { database.logger }

  /// The channel a commit that changes the field schema notifies (`ReplicaFollower`).
  public static let changesChannel = "vault_changes"

  /// One list of statements per schema version, in order; never edited once released. Subject
  /// ids and field names compare in byte order ("C"), as on SQLite, for the walks by subject.
  static let migrations: [[String]] = [
    [
      """
      CREATE TABLE vault_fields (
        name TEXT COLLATE "C" PRIMARY KEY, classification TEXT NOT NULL, special_category TEXT NOT NULL,
        criminal_offence BOOLEAN NOT NULL, mask TEXT NOT NULL, encrypted BOOLEAN NOT NULL, searchable BOOLEAN NOT NULL,
        tags TEXT NOT NULL, generalization TEXT NOT NULL, description TEXT NOT NULL, created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL)
      """,
      """
      CREATE TABLE vault_keys (
        purpose TEXT PRIMARY KEY, key_id TEXT NOT NULL, kek_id TEXT NOT NULL, wrapped BYTEA NOT NULL, created_at BIGINT NOT NULL)
      """,
      """
      CREATE TABLE vault_data_keys (
        subject_id TEXT COLLATE "C" PRIMARY KEY, key_id TEXT NOT NULL, kek_id TEXT NOT NULL, wrapped BYTEA NOT NULL,
        created_at BIGINT NOT NULL)
      """,
      "CREATE INDEX vault_data_keys_by_kek ON vault_data_keys (kek_id, subject_id)",
      """
      CREATE TABLE vault_records (
        subject_id TEXT COLLATE "C" PRIMARY KEY, version BIGINT NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL,
        restriction_reason TEXT, restricted_since BIGINT, human_review_reason TEXT, human_review_since BIGINT, erasure TEXT,
        pending_reason TEXT, pending_since BIGINT)
      """,
      "CREATE INDEX vault_records_pending ON vault_records (subject_id) WHERE pending_since IS NOT NULL",
      """
      CREATE TABLE vault_record_values (
        subject_id TEXT COLLATE "C" NOT NULL REFERENCES vault_records (subject_id),
        field TEXT COLLATE "C" NOT NULL REFERENCES vault_fields (name), value_plain TEXT, value_sealed BYTEA,
        key_id TEXT NOT NULL, blind_index BYTEA, locked BOOLEAN NOT NULL, generalized BOOLEAN NOT NULL, updated_at BIGINT NOT NULL,
        source_channel TEXT, source_form_name TEXT, source_ip_sealed BYTEA, source_actor_kind TEXT, source_captured_at BIGINT,
        source_actor TEXT, source_request_id TEXT, PRIMARY KEY (subject_id, field))
      """,
      "CREATE INDEX vault_record_values_by_field ON vault_record_values (field, subject_id)",
      """
      CREATE INDEX vault_record_values_by_blind_index ON vault_record_values (field, blind_index, subject_id)
        WHERE blind_index IS NOT NULL
      """,
      """
      CREATE TABLE vault_access_log (
        sequence BIGINT PRIMARY KEY, kind TEXT NOT NULL, subject_id TEXT NOT NULL, field TEXT NOT NULL, actor TEXT NOT NULL,
        role TEXT NOT NULL, reason TEXT NOT NULL, request_id TEXT NOT NULL, detail TEXT NOT NULL, occurred_at BIGINT NOT NULL,
        prev_hash TEXT NOT NULL, hash TEXT NOT NULL)
      """,
      "CREATE INDEX vault_access_log_by_subject ON vault_access_log (subject_id, sequence)",
      "CREATE INDEX vault_access_log_by_actor ON vault_access_log (actor, sequence)",
      "CREATE INDEX vault_access_log_by_field ON vault_access_log (field, sequence)",
      """
      CREATE FUNCTION vault_access_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'the access log is append-only'; END $$
      """,
      """
      CREATE TRIGGER vault_access_log_no_change BEFORE UPDATE OR DELETE ON vault_access_log
        FOR EACH ROW EXECUTE FUNCTION vault_access_log_append_only()
      """,
      """
      CREATE TRIGGER vault_access_log_no_truncate BEFORE TRUNCATE ON vault_access_log
        FOR EACH STATEMENT EXECUTE FUNCTION vault_access_log_append_only()
      """,
      "CREATE TABLE vault_quasi_identifier_counts (digest BYTEA PRIMARY KEY, count BIGINT NOT NULL)",
      "CREATE TABLE vault_settings (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    ]
  ]

  // MARK: Reads

  public func loadFields() async throws -> [FieldDefinition] {
    var fields: [FieldDefinition] = []
    let rows = try await database.query(
      """
      SELECT name, classification, special_category, criminal_offence, mask, encrypted, searchable, tags, generalization,
        description, created_at, updated_at FROM vault_fields ORDER BY name
      """)
    for try await (name, classification, category, criminal, mask, encrypted, searchable, tags, rule, description, createdAt, updatedAt)
      in rows.decode((String, String, String, Bool, String, Bool, Bool, String, String, String, Int64, Int64).self)
    {
      fields.append(
        try StoredColumns.field(
          name: name, classification: classification, specialCategory: category, criminalOffence: criminal, mask: mask,
          encrypted: encrypted, searchable: searchable, tags: tags, generalization: rule, description: description,
          createdAt: createdAt, updatedAt: updatedAt))
    }
    return fields
  }

  public func logHead() async throws -> ChainHead {
    try await Self.head(try await database.query(Self.headQuery))
  }

  private static let headQuery: PostgresQuery = "SELECT sequence, hash FROM vault_access_log ORDER BY sequence DESC LIMIT 1"

  private static func head(_ rows: PostgresRows) async throws -> ChainHead {
    var head = ChainHead.empty
    for try await (sequence, hash) in rows.decode((Int64, String).self) { head = ChainHead(sequence: UInt64(sequence), hash: hash) }
    return head
  }

  public func vaultKey(purpose: String) async throws -> WrappedKey? {
    for try await (keyID, kekID, wrapped, createdAt) in try await database.query(
      "SELECT key_id, kek_id, wrapped, created_at FROM vault_keys WHERE purpose = \(purpose)"
    ).decode((String, String, Data, Int64).self) {
      return WrappedKey(
        purpose: purpose, owner: Envelope.vaultOwner, keyID: keyID, kekID: kekID, ciphertext: Array(wrapped),
        createdAt: Microseconds(value: createdAt).date)
    }
    return nil
  }

  public func record(_ subjectID: String) async throws -> StoredRecord? {
    // One snapshot for the record, its values and its key (READ COMMITTED would give each
    // statement its own, and an erasure committing between them would pair values with no key).
    try await database.snapshot { connection in
      var state: RecordState?
      for try await row in try await connection.checkedQuery("\(unescaped: Self.selectRecords) WHERE subject_id = \(subjectID)", logger: logger) {
        state = try Self.state(from: row.makeRandomAccess())
      }
      guard let state else { return nil }
      let values = try await Self.values(
        try await connection.checkedQuery("\(unescaped: Self.selectValues) WHERE subject_id = \(subjectID) ORDER BY field", logger: logger))
      let key = try await Self.dataKeys(
        try await connection.checkedQuery("\(unescaped: Self.selectDataKeys) WHERE subject_id = \(subjectID)", logger: logger)).first
      return StoredRecord(state: state, values: values, dataKey: key)
    }
  }

  /// The same three reads as `record`, each for every subject at once, in one snapshot.
  public func records(_ subjectIDs: [String]) async throws -> [StoredRecord?] {
    try await database.snapshot { connection in
      var states: [String: RecordState] = [:]
      for try await row in try await connection.checkedQuery(
        "\(unescaped: Self.selectRecords) WHERE subject_id = ANY(\(subjectIDs))", logger: logger)
      {
        let state = try Self.state(from: row.makeRandomAccess())
        states[state.subjectID] = state
      }
      let values = Dictionary(grouping: try await Self.values(
        try await connection.checkedQuery(
          "\(unescaped: Self.selectValues) WHERE subject_id = ANY(\(subjectIDs)) ORDER BY subject_id, field", logger: logger)),
        by: \.subjectID)
      let keys = Dictionary(try await Self.dataKeys(
        try await connection.checkedQuery("\(unescaped: Self.selectDataKeys) WHERE subject_id = ANY(\(subjectIDs))", logger: logger)
      ).map { ($0.owner, $0) }, uniquingKeysWith: { first, _ in first })
      return subjectIDs.map { subjectID in
        states[subjectID].map { StoredRecord(state: $0, values: values[subjectID] ?? [], dataKey: keys[subjectID]) }
      }
    }
  }

  public func dataKey(_ subjectID: String) async throws -> WrappedKey? {
    try await Self.dataKeys(
      try await database.query("\(unescaped: Self.selectDataKeys) WHERE subject_id = \(subjectID)")).first
  }

  public func values(ofField field: String) async throws -> [StoredValue] {
    try await Self.values(
      try await database.query("\(unescaped: Self.selectValues) WHERE field = \(field) ORDER BY subject_id"))
  }

  public func fieldHasValues(_ field: String) async throws -> Bool {
    for try await exists in try await database.query(
      """
      SELECT EXISTS (SELECT 1 FROM vault_record_values
        WHERE field = \(field) AND (value_plain IS NOT NULL OR value_sealed IS NOT NULL))
      """
    ).decode(Bool.self) {
      return exists
    }
    return false
  }

  public func pendingSubjects() async throws -> Set<String> {
    var subjects = Set<String>()
    for try await subject in try await database.query(
      "SELECT subject_id FROM vault_records WHERE pending_since IS NOT NULL"
    ).decode(String.self) {
      subjects.insert(subject)
    }
    return subjects
  }

  public func quasiIdentifierCount(_ digest: [UInt8]) async throws -> Int {
    for try await count in try await database.query(
      "SELECT count FROM vault_quasi_identifier_counts WHERE digest = \(Data(digest))"
    ).decode(Int.self) {
      return count
    }
    return 0
  }

  public func quasiIdentifierCountedFields() async throws -> [String]? {
    for try await value in try await database.query(
      "SELECT value FROM vault_settings WHERE name = \(StoredColumns.countedFieldsSetting)"
    ).decode(String.self) {
      return value.split(separator: ",").map(String.init)
    }
    return nil
  }

  public func subjects(field: String, blindIndex: [UInt8], after: String?, limit: Int) async throws -> [String] {
    var subjects: [String] = []
    for try await subject in try await database.query(
      """
      SELECT subject_id FROM vault_record_values WHERE field = \(field) AND blind_index = \(Data(blindIndex))
        AND subject_id > \(after ?? "") ORDER BY subject_id LIMIT \(limit)
      """
    ).decode(String.self) {
      subjects.append(subject)
    }
    return subjects
  }

  public func accessLog(_ query: AccessLogQuery) async throws -> [AccessLogEntry] {
    var bindings = PostgresBindings()
    var conditions = ["sequence > \(bindings.placeholder(for: Int64(query.after)))"]
    if let before = query.before { conditions.append("sequence < \(bindings.placeholder(for: Int64(before)))") }
    if let subject = query.subjectID { conditions.append("subject_id = \(bindings.placeholder(for: subject))") }
    if let actor = query.actor { conditions.append("actor = \(bindings.placeholder(for: actor))") }
    if let field = query.field { conditions.append("field = \(bindings.placeholder(for: field))") }
    if !query.kinds.isEmpty { conditions.append("kind = ANY(\(bindings.placeholder(for: query.kinds.map(\.rawValue))))") }
    if let start = query.start { conditions.append("occurred_at >= \(bindings.placeholder(for: Microseconds(start).value))") }
    if let end = query.end { conditions.append("occurred_at < \(bindings.placeholder(for: Microseconds(end).value))") }
    let sql = """
      SELECT sequence, kind, subject_id, field, actor, role, reason, request_id, detail, occurred_at, prev_hash, hash
      FROM vault_access_log WHERE \(conditions.joined(separator: " AND ")) ORDER BY sequence LIMIT \(bindings.placeholder(for: query.limit))
      """
    var entries: [AccessLogEntry] = []
    let rows = try await database.query(PostgresQuery(unsafeSQL: sql, binds: bindings))
    for try await (sequence, kind, subjectID, field, actor, role, reason, requestID, detail, occurredAt, previousHash, hash)
      in rows.decode((Int64, String, String, String, String, String, String, String, String, Int64, String, String).self)
    {
      guard let kind = AccessKind(rawValue: kind) else { throw AccessLogCorruption(sequence: UInt64(sequence), column: "kind") }
      entries.append(
        AccessLogEntry(
          sequence: UInt64(sequence), kind: kind, subjectID: subjectID, field: field, actor: actor, role: role, reason: reason,
          requestID: requestID, detail: detail, occurredAt: Microseconds(value: occurredAt).date, previousHash: previousHash,
          hash: hash))
    }
    return entries
  }

  public func dataKeys(notWrappedUnder kekID: String, limit: Int) async throws -> [WrappedKey] {
    try await Self.dataKeys(
      try await database.query(
        "\(unescaped: Self.selectDataKeys) WHERE kek_id != \(kekID) ORDER BY subject_id LIMIT \(limit)"))
  }

  public func dataKeyCounts() async throws -> [String: Int] {
    var counts: [String: Int] = [:]
    for try await (kekID, count) in try await database.query(
      "SELECT kek_id, COUNT(*) FROM vault_data_keys GROUP BY kek_id"
    ).decode((String, Int).self) {
      counts[kekID] = count
    }
    return counts
  }

  // MARK: Writes

  /// One transaction holding the writers' advisory lock (`PostgresPool.withWriterTransaction`).
  public func exclusively<T: Sendable>(_ body: () async throws -> T) async throws -> T {
    try await database.withWriterTransaction(Self.writeLock, body)
  }

  /// The advisory-lock key of the vault's writers (any constant the replicas agree on).
  private static let writeLock: Int64 = 0x7661_756c_7421

  public func commit(_ commit: VaultCommit) async throws {
    try await database.transaction { connection in
      if let first = commit.log.first, try await !append(commit.log, connection) {
        let head = try await Self.head(try await connection.checkedQuery(Self.headQuery, logger: logger))
        throw AccessLogHeadMoved(expected: first.sequence - 1, found: head.sequence)
      }
      for field in commit.fields { try await save(field, connection) }
      if !commit.destroyedDataKeys.isEmpty {
        try await connection.checkedQuery("DELETE FROM vault_data_keys WHERE subject_id = ANY(\(commit.destroyedDataKeys))", logger: logger)
      }
      for key in commit.dataKeys {
        try await connection.checkedQuery(
          """
          INSERT INTO vault_data_keys (subject_id, key_id, kek_id, wrapped, created_at)
          VALUES (\(key.owner), \(key.keyID), \(key.kekID), \(Data(key.ciphertext)), \(Microseconds(key.createdAt).value))
          ON CONFLICT (subject_id) DO UPDATE SET key_id = excluded.key_id, kek_id = excluded.kek_id, wrapped = excluded.wrapped,
            created_at = excluded.created_at
          """, logger: logger)
      }
      for key in commit.vaultKeys {
        try await connection.checkedQuery(
          """
          INSERT INTO vault_keys (purpose, key_id, kek_id, wrapped, created_at)
          VALUES (\(key.purpose), \(key.keyID), \(key.kekID), \(Data(key.ciphertext)), \(Microseconds(key.createdAt).value))
          ON CONFLICT (purpose) DO UPDATE SET key_id = excluded.key_id, kek_id = excluded.kek_id, wrapped = excluded.wrapped,
            created_at = excluded.created_at
          """, logger: logger)
      }
      for state in commit.records { try await save(state, connection) }
      for (subject, field) in commit.removedValues {
        try await connection.checkedQuery(
          "DELETE FROM vault_record_values WHERE subject_id = \(subject) AND field = \(field)", logger: logger)
      }
      for value in commit.values { try await save(value, connection) }
      if !commit.discardedRecords.isEmpty {
        try await connection.checkedQuery("DELETE FROM vault_record_values WHERE subject_id = ANY(\(commit.discardedRecords))", logger: logger)
        try await connection.checkedQuery("DELETE FROM vault_records WHERE subject_id = ANY(\(commit.discardedRecords))", logger: logger)
      }
      if let rebuild = commit.quasiIdentifierCountRebuild { try await replace(rebuild, connection) }
      if let fields = commit.quasiIdentifierCountedFields { try await setCountedFields(fields, connection) }
      for (digest, change) in commit.quasiIdentifierCountChanges { try await changeCount(digest, by: change, connection) }
      // Delivered to the other replicas when the transaction commits, not before.
      if !commit.fields.isEmpty {
        try await database.notify(Self.changesChannel, on: connection)
      }
    }
  }

  /// PostgreSQL keeps old row versions until VACUUM reclaims them; the vault leaves that to
  /// autovacuum (see the README's note on erased data and backups).
  public func discardOldPageVersions() async {}

  private func replace(_ counts: QuasiIdentifierCounts, _ connection: PostgresConnection) async throws {
    try await connection.checkedQuery("DELETE FROM vault_quasi_identifier_counts", logger: logger)
    if !counts.counts.isEmpty {
      // As hex: postgres-nio encodes no array of byte strings.
      let digests = Array(counts.counts.keys)
      try await connection.checkedQuery(
        """
        INSERT INTO vault_quasi_identifier_counts (digest, count)
        SELECT decode(digest, 'hex'), count FROM unnest(\(digests.map(\.hex)), \(digests.map { Int64(counts.counts[$0]!) })) AS given (digest, count)
        """, logger: logger)
    }
    try await setCountedFields(counts.fields, connection)
  }

  private func setCountedFields(_ fields: [String], _ connection: PostgresConnection) async throws {
    try await connection.checkedQuery(
      """
      INSERT INTO vault_settings (name, value) VALUES (\(StoredColumns.countedFieldsSetting), \(fields.joined(separator: ",")))
      ON CONFLICT (name) DO UPDATE SET value = excluded.value
      """, logger: logger)
  }

  private func changeCount(_ digest: [UInt8], by change: Int, _ connection: PostgresConnection) async throws {
    try await connection.checkedQuery(
      """
      INSERT INTO vault_quasi_identifier_counts (digest, count) VALUES (\(Data(digest)), \(Int64(change)))
      ON CONFLICT (digest) DO UPDATE SET count = vault_quasi_identifier_counts.count + excluded.count
      """, logger: logger)
    if change < 0 {
      try await connection.checkedQuery(
        "DELETE FROM vault_quasi_identifier_counts WHERE digest = \(Data(digest)) AND count <= 0", logger: logger)
    }
  }

  private func save(_ field: FieldDefinition, _ connection: PostgresConnection) async throws {
    try await connection.checkedQuery(
      """
      INSERT INTO vault_fields (name, classification, special_category, criminal_offence, mask, encrypted, searchable, tags,
        generalization, description, created_at, updated_at)
      VALUES (\(field.name), \(field.classification.rawValue), \(field.specialCategory?.rawValue ?? ""), \(field.criminalOffence),
        \(field.mask.rawValue), \(field.encrypted), \(field.searchable), \(StoredColumns.tags(field)), \(field.generalization?.text ?? ""),
        \(field.description), \(Microseconds(field.createdAt).value), \(Microseconds(field.updatedAt).value))
      ON CONFLICT (name) DO UPDATE SET classification = excluded.classification, special_category = excluded.special_category,
        criminal_offence = excluded.criminal_offence, mask = excluded.mask, encrypted = excluded.encrypted,
        searchable = excluded.searchable, tags = excluded.tags, generalization = excluded.generalization,
        description = excluded.description, updated_at = excluded.updated_at
      """, logger: logger)
  }

  private func save(_ state: RecordState, _ connection: PostgresConnection) async throws {
    try await connection.checkedQuery(
      """
      INSERT INTO vault_records (subject_id, version, created_at, updated_at, restriction_reason, restricted_since,
        human_review_reason, human_review_since, erasure, pending_reason, pending_since)
      VALUES (\(state.subjectID), \(state.version), \(Microseconds(state.createdAt).value), \(Microseconds(state.updatedAt).value),
        \(state.restriction?.reason), \(state.restriction.map { Microseconds($0.since).value }), \(state.humanReview?.reason),
        \(state.humanReview.map { Microseconds($0.since).value }), \(try StoredColumns.erasure(state.erasure)), \(state.pending?.reason),
        \(state.pending.map { Microseconds($0.since).value }))
      ON CONFLICT (subject_id) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at,
        restriction_reason = excluded.restriction_reason, restricted_since = excluded.restricted_since,
        human_review_reason = excluded.human_review_reason, human_review_since = excluded.human_review_since,
        erasure = excluded.erasure, pending_reason = excluded.pending_reason, pending_since = excluded.pending_since
      """, logger: logger)
  }

  private func save(_ value: StoredValue, _ connection: PostgresConnection) async throws {
    let (plain, sealed) = StoredColumns.content(value)
    let source = value.source
    try await connection.checkedQuery(
      """
      INSERT INTO vault_record_values (subject_id, field, value_plain, value_sealed, key_id, blind_index, locked, generalized,
        updated_at, source_channel, source_form_name, source_ip_sealed, source_actor_kind, source_captured_at, source_actor,
        source_request_id)
      VALUES (\(value.subjectID), \(value.field), \(plain), \(sealed), \(value.keyID), \(value.blindIndex.map { Data($0) }),
        \(value.locked), \(value.generalized), \(Microseconds(value.updatedAt).value), \(source?.channel.rawValue), \(source?.formName),
        \(source?.sealedIP.map { Data($0) }), \(source?.actorKind.rawValue), \(source.map { Microseconds($0.capturedAt).value }),
        \(source?.actor), \(source?.requestID))
      ON CONFLICT (subject_id, field) DO UPDATE SET value_plain = excluded.value_plain, value_sealed = excluded.value_sealed,
        key_id = excluded.key_id, blind_index = excluded.blind_index, locked = excluded.locked, generalized = excluded.generalized,
        updated_at = excluded.updated_at, source_channel = excluded.source_channel, source_form_name = excluded.source_form_name,
        source_ip_sealed = excluded.source_ip_sealed, source_actor_kind = excluded.source_actor_kind,
        source_captured_at = excluded.source_captured_at, source_actor = excluded.source_actor,
        source_request_id = excluded.source_request_id
      """, logger: logger)
  }

  /// One statement inserts every entry (`unnest` over one array per column).
  /// Appends `log` (consecutive entries, as the vault seals them) only if its first entry
  /// extends the log's last one (no entry at or after its sequence, and the one before holds its
  /// previous hash), in the same statement; false when it does not, and nothing was written. So no
  /// commit forks the chain, whatever lock its writer holds: two writers that read one head cannot
  /// both extend it (the second fails the check, or the primary key while the first is still
  /// uncommitted), and an entry is never visible before the one it follows.
  private func append(_ log: [AccessLogEntry], _ connection: PostgresConnection) async throws -> Bool {
    guard let first = log.first else { return true }
    let sequence = Int64(first.sequence)
    let appended = try await connection.checkedQuery(
      """
      INSERT INTO vault_access_log (sequence, kind, subject_id, field, actor, role, reason, request_id, detail, occurred_at,
        prev_hash, hash)
      SELECT * FROM unnest(\(log.map { Int64($0.sequence) }), \(log.map(\.kind.rawValue)), \(log.map(\.subjectID)), \(log.map(\.field)),
        \(log.map(\.actor)), \(log.map(\.role)), \(log.map(\.reason)), \(log.map(\.requestID)), \(log.map(\.detail)),
        \(log.map { Microseconds($0.occurredAt).value }), \(log.map(\.previousHash)), \(log.map(\.hash)))
      WHERE NOT EXISTS (SELECT 1 FROM vault_access_log WHERE sequence >= \(sequence))
        AND COALESCE((SELECT hash FROM vault_access_log WHERE sequence = \(sequence - 1)), \(HashChain.genesis)) = \(first.previousHash)
      RETURNING sequence
      """, logger: logger)
    return appended.rows.count == log.count
  }

  // MARK: Row decoding

  private static let selectRecords = """
    SELECT subject_id, version, created_at, updated_at, restriction_reason, restricted_since, human_review_reason,
      human_review_since, erasure, pending_reason, pending_since FROM vault_records
    """

  private static let selectValues = """
    SELECT subject_id, field, value_plain, value_sealed, key_id, blind_index, locked, generalized, updated_at, source_channel,
      source_form_name, source_ip_sealed, source_actor_kind, source_captured_at, source_actor, source_request_id
    FROM vault_record_values
    """

  private static let selectDataKeys = "SELECT subject_id, key_id, kek_id, wrapped, created_at FROM vault_data_keys"

  private static func state(from row: PostgresRandomAccessRow) throws -> RecordState {
    let subjectID = try row["subject_id"].decode(String.self)
    func flag(_ reason: String, _ since: String) throws -> RecordFlag? {
      guard let text = try row[reason].decode(String?.self), let at = try row[since].decode(Int64?.self) else { return nil }
      return RecordFlag(reason: text, since: Microseconds(value: at).date)
    }
    return RecordState(
      subjectID: subjectID, version: try row["version"].decode(Int64.self),
      createdAt: Microseconds(value: try row["created_at"].decode(Int64.self)).date,
      updatedAt: Microseconds(value: try row["updated_at"].decode(Int64.self)).date,
      restriction: try flag("restriction_reason", "restricted_since"),
      humanReview: try flag("human_review_reason", "human_review_since"),
      erasure: try StoredColumns.erasure(try row["erasure"].decode(String?.self), subjectID: subjectID),
      pending: try flag("pending_reason", "pending_since"))
  }

  private static func values(_ rows: PostgresRows) async throws -> [StoredValue] {
    var values: [StoredValue] = []
    for try await row in rows { values.append(try value(from: row.makeRandomAccess())) }
    return values
  }

  private static func value(from row: PostgresRandomAccessRow) throws -> StoredValue {
    let subjectID = try row["subject_id"].decode(String.self)
    let field = try row["field"].decode(String.self)
    var content: StoredValue.Content?
    if let sealed = try row["value_sealed"].decode(Data?.self) {
      content = .sealed(Array(sealed))
    } else if let plain = try row["value_plain"].decode(String?.self) {
      content = .plain(plain)
    }
    var source: StoredSource?
    if let channelText = try row["source_channel"].decode(String?.self) {
      guard let channel = Channel(rawValue: channelText),
        let actorKind = ActorKind(rawValue: try row["source_actor_kind"].decode(String?.self) ?? "")
      else {
        throw VaultError.storedRecordCorrupt(subjectID: subjectID, column: "record_values.source of \(field)")
      }
      source = StoredSource(
        channel: channel, formName: try row["source_form_name"].decode(String?.self) ?? "",
        sealedIP: try row["source_ip_sealed"].decode(Data?.self).map { Array($0) }, actorKind: actorKind,
        capturedAt: Microseconds(value: try row["source_captured_at"].decode(Int64?.self) ?? 0).date,
        actor: try row["source_actor"].decode(String?.self) ?? "", requestID: try row["source_request_id"].decode(String?.self) ?? "")
    }
    return StoredValue(
      subjectID: subjectID, field: field, content: content, keyID: try row["key_id"].decode(String.self),
      blindIndex: try row["blind_index"].decode(Data?.self).map { Array($0) }, locked: try row["locked"].decode(Bool.self),
      generalized: try row["generalized"].decode(Bool.self), updatedAt: Microseconds(value: try row["updated_at"].decode(Int64.self)).date,
      source: source)
  }

  private static func dataKeys(_ rows: PostgresRows) async throws -> [WrappedKey] {
    var keys: [WrappedKey] = []
    for try await (subjectID, keyID, kekID, wrapped, createdAt) in rows.decode((String, String, String, Data, Int64).self) {
      keys.append(
        WrappedKey(
          purpose: Envelope.dataKeyPurpose, owner: subjectID, keyID: keyID, kekID: kekID, ciphertext: Array(wrapped),
          createdAt: Microseconds(value: createdAt).date))
    }
    return keys
  }
}
