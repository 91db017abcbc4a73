import Foundation
public import Logging
import PostgresNIO
public import PrivacyKit

/// The audit log on PostgreSQL, for gateways that run as several replicas on one database. Each
/// batch is chained after the head read under `LOCK TABLE ... IN EXCLUSIVE MODE` (readers go on,
/// other writers wait for the commit), so the log stays one chain whichever gateway appends.
/// Triggers refuse updates, deletes and truncation. The gateway's other state lives in the same
/// database (`PostgresReactorStore`, on `database`).
public struct PostgresAuditStore: AuditStore {
  public let database: PostgresPool

  public static func open(_ settings: PostgresSettings, logger: Logger) async throws -> PostgresAuditStore {
    PostgresAuditStore(database: try await PostgresPool.open(settings, service: "gateway", migrations: migrations, logger: logger))
  }

  private init(database: PostgresPool) { self.database = database }

  /// One list of statements per schema version, in order; never edited once released.
  static let migrations: [[String]] = [
    [
      """
      CREATE TABLE audit_log (
        sequence BIGINT PRIMARY KEY, time BIGINT NOT NULL, request_id TEXT NOT NULL, actor TEXT NOT NULL, role TEXT NOT NULL,
        method TEXT NOT NULL, subject_id TEXT NOT NULL, fields_revealed TEXT NOT NULL, reason TEXT NOT NULL,
        status_code BIGINT NOT NULL, status_message TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL, phase TEXT NOT NULL)
      """,
      "CREATE INDEX audit_log_by_actor ON audit_log (actor, sequence)",
      "CREATE INDEX audit_log_by_subject ON audit_log (subject_id, sequence)",
      "CREATE INDEX audit_log_by_method ON audit_log (method, sequence)",
      "CREATE INDEX audit_log_by_request ON audit_log (request_id)",
      "CREATE INDEX audit_log_by_time ON audit_log (time)",
      """
      CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$
      """,
      """
      CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
        FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()
      """,
      """
      CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
        FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()
      """,
      """
      CREATE TABLE audit_checkpoints (
        sequence BIGINT PRIMARY KEY, hash TEXT NOT NULL, signed_at BIGINT NOT NULL, signature BYTEA NOT NULL, public_key BYTEA NOT NULL)
      """,
      "CREATE TABLE reactor_cursors (name TEXT PRIMARY KEY, position BIGINT NOT NULL)",
      "CREATE TABLE leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at BIGINT NOT NULL)",
      "CREATE TABLE held_reentries (subject_id TEXT PRIMARY KEY, held_at BIGINT NOT NULL)",
    ],
    ["ALTER TABLE audit_log ADD COLUMN subjects_touched BIGINT NOT NULL DEFAULT 0"],
  ]

  public func head() async throws -> ChainHead {
    try await Self.head(try await database.query(Self.headQuery))
  }

  private static let headQuery: PostgresQuery = "SELECT sequence, hash FROM audit_log ORDER BY sequence DESC LIMIT 1"

  private static func head(_ rows: PostgresRows) async throws -> ChainHead {
    var head = ChainHead.empty
    for try await (sequence, hash) in rows.decode((Int64, String).self) { head = ChainHead(sequence: UInt64(sequence), hash: hash) }
    return head
  }

  /// One statement inserts the whole batch (`unnest` over one array per column).
  public func append(_ seal: @escaping @Sendable (ChainHead) -> [AuditEntry]) async throws -> [AuditEntry] {
    let logger = database.logger
    return try await database.transaction { connection in
      try await connection.checkedQuery("LOCK TABLE audit_log IN EXCLUSIVE MODE", logger: logger)
      let entries = seal(try await Self.head(try await connection.checkedQuery(Self.headQuery, logger: logger)))
      let drafts = entries.map(\.draft)
      try await connection.checkedQuery(
        """
        INSERT INTO audit_log (sequence, time, request_id, actor, role, method, subject_id, fields_revealed, reason,
          status_code, status_message, prev_hash, hash, phase, subjects_touched)
        SELECT * FROM unnest(\(entries.map { Int64($0.sequence) }), \(entries.map { Microseconds($0.time).value }),
          \(drafts.map(\.requestID)), \(drafts.map(\.actor)), \(drafts.map(\.role)), \(drafts.map(\.method)), \(drafts.map(\.subjectID)),
          \(drafts.map { $0.fieldsRevealed.joined(separator: ",") }), \(drafts.map(\.reason)), \(drafts.map { Int64($0.statusCode) }),
          \(drafts.map(\.statusMessage)), \(entries.map(\.previousHash)), \(entries.map(\.hash)), \(drafts.map(\.phase.rawValue)),
          \(drafts.map { Int64($0.subjectsTouched) }))
        """, logger: logger)
      return entries
    }
  }

  public func entries(_ query: AuditQuery) async throws -> [AuditEntry] {
    var bindings = PostgresBindings()
    var conditions: [String] = []
    if let before = query.before { conditions.append("sequence < \(bindings.placeholder(for: Int64(before)))") }
    if let actor = query.actor { conditions.append("actor = \(bindings.placeholder(for: actor))") }
    switch query.method {
    case .method(let name)?: conditions.append("method = \(bindings.placeholder(for: name))")
    case .service(let service)?: conditions.append("starts_with(method, \(bindings.placeholder(for: service + "/")))")
    case nil: break
    }
    if let subject = query.subjectID { conditions.append("subject_id = \(bindings.placeholder(for: subject))") }
    if let requestID = query.requestID { conditions.append("request_id = \(bindings.placeholder(for: requestID))") }
    if let start = query.start { conditions.append("time >= \(bindings.placeholder(for: Microseconds(start).value))") }
    if let end = query.end { conditions.append("time < \(bindings.placeholder(for: Microseconds(end).value))") }
    if let code = query.statusCode { conditions.append("status_code = \(bindings.placeholder(for: Int64(code)))") }
    let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
    let sql = "SELECT * FROM audit_log \(filter) ORDER BY sequence DESC LIMIT \(bindings.placeholder(for: query.limit))"
    return try await rows(PostgresQuery(unsafeSQL: sql, binds: bindings)).map { try $0.get() }
  }

  public func chain(after sequence: UInt64, limit: Int) async throws -> [Result<AuditEntry, AuditCorruption>] {
    try await rows("SELECT * FROM audit_log WHERE sequence > \(Int64(sequence)) ORDER BY sequence LIMIT \(limit)")
  }

  private func rows(_ query: PostgresQuery) async throws -> [Result<AuditEntry, AuditCorruption>] {
    var entries: [Result<AuditEntry, AuditCorruption>] = []
    for try await row in try await database.query(query) {
      let columns = row.makeRandomAccess()
      entries.append(StoredAuditRow.entry(
        integer: { try? columns[$0].decode(Int64.self) }, text: { try? columns[$0].decode(String.self) }))
    }
    return entries
  }

  public func saveCheckpoint(_ checkpoint: AuditCheckpoint) async throws {
    try await database.query(
      """
      INSERT INTO audit_checkpoints (sequence, hash, signed_at, signature, public_key)
      VALUES (\(Int64(checkpoint.sequence)), \(checkpoint.hash), \(Microseconds(checkpoint.signedAt).value), \(checkpoint.signature),
        \(checkpoint.publicKey))
      ON CONFLICT (sequence) DO NOTHING
      """)
  }

  public func checkpoints(after sequence: UInt64, limit: Int) async throws -> [AuditCheckpoint] {
    var checkpoints: [AuditCheckpoint] = []
    let rows = try await database.query(
      """
      SELECT sequence, hash, signed_at, signature, public_key FROM audit_checkpoints WHERE sequence > \(Int64(sequence))
      ORDER BY sequence LIMIT \(limit)
      """)
    for try await (at, hash, signedAt, signature, publicKey) in rows.decode((Int64, String, Int64, Data, Data).self) {
      checkpoints.append(AuditCheckpoint(
        sequence: UInt64(at), hash: hash, signedAt: Microseconds(value: signedAt).date, signature: signature, publicKey: publicKey))
    }
    return checkpoints
  }
}
