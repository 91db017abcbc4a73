import Foundation
public import GRDB
public import PrivacyKit

/// The audit log on SQLite: the gateway's own database file (`DATABASE_URL`), in WAL mode with
/// `synchronous=FULL`, so an entry is on disk before the call it records is answered. Triggers
/// refuse updates and deletes.
public struct SQLiteAuditStore: AuditStore {
  private let pool: DatabasePool

  public init(path: String) throws {
    self.pool = try SQLiteDatabase.open(path: path, migrator: Self.migrator)
  }

  /// The underlying pool, for tests that inspect the file.
  public var database: DatabasePool { pool }

  static var migrator: DatabaseMigrator {
    var migrator = DatabaseMigrator()
    migrator.registerMigration("v1") { db in
      try db.execute(sql: """
        CREATE TABLE audit_log (
          sequence INTEGER PRIMARY KEY, time INTEGER NOT NULL, request_id TEXT NOT NULL, actor TEXT NOT NULL,
          role TEXT NOT NULL, method TEXT NOT NULL, subject_id TEXT NOT NULL, fields_revealed TEXT NOT NULL,
          reason TEXT NOT NULL, status_code INTEGER NOT NULL, status_message TEXT NOT NULL, prev_hash TEXT NOT NULL,
          hash TEXT NOT NULL);
        CREATE INDEX audit_log_by_actor ON audit_log(actor, sequence);
        CREATE INDEX audit_log_by_subject ON audit_log(subject_id, sequence);
        CREATE INDEX audit_log_by_method ON audit_log(method, sequence);
        CREATE INDEX audit_log_by_request ON audit_log(request_id);
        CREATE INDEX audit_log_by_time ON audit_log(time);
        CREATE TRIGGER audit_log_append_only_update BEFORE UPDATE ON audit_log
          BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
        CREATE TRIGGER audit_log_append_only_delete BEFORE DELETE ON audit_log
          BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
        """)
    }
    migrator.registerMigration("v3-phases-checkpoints") { db in
      try db.execute(sql: """
        ALTER TABLE audit_log ADD COLUMN phase TEXT NOT NULL DEFAULT '';
        CREATE TABLE audit_checkpoints (
          sequence INTEGER PRIMARY KEY, hash TEXT NOT NULL, signed_at INTEGER NOT NULL, signature BLOB NOT NULL,
          public_key BLOB NOT NULL);
        """)
    }
    // The gateway's other state lives in the same file (`SQLiteReactorStore`).
    migrator.registerMigration("v2-reactors") { db in
      try db.execute(sql: """
        CREATE TABLE reactor_cursors (name TEXT PRIMARY KEY, position INTEGER NOT NULL);
        CREATE TABLE leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at INTEGER NOT NULL);
        """)
    }
    migrator.registerMigration("v3-held-reentries") { db in
      try db.execute(sql: "CREATE TABLE held_reentries (subject_id TEXT PRIMARY KEY, held_at INTEGER NOT NULL)")
    }
    migrator.registerMigration("v4-subjects-touched") { db in
      try db.execute(sql: "ALTER TABLE audit_log ADD COLUMN subjects_touched INTEGER NOT NULL DEFAULT 0")
    }
    return migrator
  }

  public func head() async throws -> ChainHead {
    try await pool.read(Self.head(in:))
  }

  private static func head(in db: Database) throws -> ChainHead {
    guard let row = try Row.fetchOne(db, sql: "SELECT sequence, hash FROM audit_log ORDER BY sequence DESC LIMIT 1") else {
      return .empty
    }
    return ChainHead(sequence: UInt64(row["sequence"] as Int64), hash: row["hash"])
  }

  /// The head is read inside the write transaction: SQLite's write lock, held from there to the
  /// commit, serializes gateways on one file as the pool serializes this process's writers.
  public func append(_ seal: @escaping @Sendable (ChainHead) -> [AuditEntry]) async throws -> [AuditEntry] {
    try await pool.write { db in
      let entries = seal(try Self.head(in: db))
      let statement = try db.cachedStatement(sql: """
        INSERT INTO audit_log (sequence, time, request_id, actor, role, method, subject_id, fields_revealed, reason,
          status_code, status_message, prev_hash, hash, phase, subjects_touched) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """)
      for entry in entries {
        let draft = entry.draft
        try statement.execute(arguments: [
          Int64(entry.sequence), Microseconds(entry.time).value, draft.requestID, draft.actor, draft.role, draft.method,
          draft.subjectID, draft.fieldsRevealed.joined(separator: ","), draft.reason, draft.statusCode,
          draft.statusMessage, entry.previousHash, entry.hash, draft.phase.rawValue, draft.subjectsTouched,
        ])
      }
      return entries
    }
  }

  public func entries(_ query: AuditQuery) async throws -> [AuditEntry] {
    var conditions: [String] = []
    var arguments: [(any DatabaseValueConvertible)?] = []
    if let before = query.before {
      conditions.append("sequence < ?")
      arguments.append(Int64(before))
    }
    if let actor = query.actor {
      conditions.append("actor = ?")
      arguments.append(actor)
    }
    switch query.method {
    case .method(let name)?:
      conditions.append("method = ?")
      arguments.append(name)
    case .service(let service)?:
      // substr instead of LIKE: service names hold `_`, a LIKE wildcard.
      let prefix = service + "/"
      conditions.append("substr(method, 1, ?) = ?")
      arguments.append(prefix.count)
      arguments.append(prefix)
    case nil:
      break
    }
    if let subject = query.subjectID {
      conditions.append("subject_id = ?")
      arguments.append(subject)
    }
    if let requestID = query.requestID {
      conditions.append("request_id = ?")
      arguments.append(requestID)
    }
    if let start = query.start {
      conditions.append("time >= ?")
      arguments.append(Microseconds(start).value)
    }
    if let end = query.end {
      conditions.append("time < ?")
      arguments.append(Microseconds(end).value)
    }
    if let code = query.statusCode {
      conditions.append("status_code = ?")
      arguments.append(code)
    }
    let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
    arguments.append(query.limit)
    let sql = "SELECT * FROM audit_log \(filter) ORDER BY sequence DESC LIMIT ?"
    let statementArguments = StatementArguments(arguments)
    return try await pool.read { db in
      try Row.fetchAll(db, sql: sql, arguments: statementArguments).map { row in
        switch Self.entry(from: row) {
        case .success(let entry): return entry
        case .failure(let corruption): throw corruption
        }
      }
    }
  }

  public func chain(after sequence: UInt64, limit: Int) async throws -> [Result<AuditEntry, AuditCorruption>] {
    try await pool.read { db in
      try Row.fetchAll(
        db, sql: "SELECT * FROM audit_log WHERE sequence > ? ORDER BY sequence LIMIT ?", arguments: [Int64(sequence), limit]
      ).map(Self.entry(from:))
    }
  }

  public func saveCheckpoint(_ checkpoint: AuditCheckpoint) async throws {
    try await pool.write { db in
      try db.execute(
        sql: "INSERT OR IGNORE INTO audit_checkpoints (sequence, hash, signed_at, signature, public_key) VALUES (?, ?, ?, ?, ?)",
        arguments: [
          Int64(checkpoint.sequence), checkpoint.hash, Microseconds(checkpoint.signedAt).value, checkpoint.signature, checkpoint.publicKey,
        ])
    }
  }

  public func checkpoints(after sequence: UInt64, limit: Int) async throws -> [AuditCheckpoint] {
    try await pool.read { db in
      try Row.fetchAll(
        db, sql: "SELECT * FROM audit_checkpoints WHERE sequence > ? ORDER BY sequence LIMIT ?", arguments: [Int64(sequence), limit]
      ).map { row in
        AuditCheckpoint(
          sequence: UInt64(row["sequence"] as Int64), hash: row["hash"], signedAt: Microseconds(value: row["signed_at"]).date,
          signature: row["signature"], publicKey: row["public_key"])
      }
    }
  }

  /// A row read back, or the column that holds a value no gateway wrote (a tampered file).
  /// Columns are read through `DatabaseValue` so a wrong type is reported, never a crash.
  private static func entry(from row: Row) -> Result<AuditEntry, AuditCorruption> {
    StoredAuditRow.entry(
      integer: { Int64.fromDatabaseValue(row[$0] as DatabaseValue) }, text: { String.fromDatabaseValue(row[$0] as DatabaseValue) })
  }
}
