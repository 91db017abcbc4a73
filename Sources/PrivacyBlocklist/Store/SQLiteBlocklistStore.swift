public import GRDB
import Foundation
public import Logging
import PrivacyKit

/// The blocklist store on SQLite (the embedded default).
public struct SQLiteBlocklistStore: BlocklistStore {
  private let pool: DatabasePool
  private let logger: Logger

  public init(path: String, logger: Logger) throws {
    self.pool = try SQLiteDatabase.open(path: path, migrator: Self.migrator)
    self.logger = logger
  }

  /// The underlying pool, for tests that inspect the file.
  public var database: DatabasePool { pool }

  enum Columns {
    static let entryID = "entry_id", kind = "kind", hash = "hash", hashPrefix = "hash_prefix", pepperID = "pepper_id"
    static let reason = "reason", requestID = "request_id", addedAt = "added_at", addedBy = "added_by"
    static let removedAt = "removed_at", removalReason = "removal_reason", removedBy = "removed_by"
  }

  static var migrator: DatabaseMigrator {
    var migrator = DatabaseMigrator()
    migrator.registerMigration("v1") { db in
      // `hash` holds the full keyed hash (hex) of an active entry and is NULL once removed; the
      // partial unique index both answers lookups and keeps one active entry per hash.
      try db.execute(sql: """
        CREATE TABLE entries (
          entry_id TEXT PRIMARY KEY, kind TEXT NOT NULL, hash TEXT, hash_prefix TEXT NOT NULL,
          pepper_id TEXT NOT NULL, reason TEXT NOT NULL, request_id TEXT NOT NULL, added_at INTEGER NOT NULL,
          added_by TEXT NOT NULL, removed_at INTEGER, removal_reason TEXT NOT NULL DEFAULT '',
          removed_by TEXT NOT NULL DEFAULT '',
          CHECK ((hash IS NULL) = (removed_at IS NOT NULL)));
        CREATE UNIQUE INDEX entries_active_hash ON entries(hash) WHERE hash IS NOT NULL;
        CREATE INDEX entries_newest ON entries(added_at DESC, entry_id DESC);
        CREATE INDEX entries_by_request ON entries(request_id, added_at DESC, entry_id DESC);
        """)
    }
    // Change numbers, so a replica's memory can follow commits (one row holds the last number).
    migrator.registerMigration("v2-changes") { db in
      try db.execute(sql: """
        ALTER TABLE entries ADD COLUMN change INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX entries_by_change ON entries(change);
        CREATE TABLE last_change (id INTEGER PRIMARY KEY CHECK (id = 1), change INTEGER NOT NULL);
        INSERT INTO last_change (id, change) VALUES (1, 0);
        """)
    }
    return migrator
  }

  public func activeEntries() async throws -> [BlocklistEntry] {
    try await pool.read { db in
      try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM entries WHERE hash IS NOT NULL")).map(Self.entry(from:))
    }
  }

  public func activeCountsByPepper() async throws -> [String: Int] {
    try await pool.read { db in
      var counts: [String: Int] = [:]
      for row in try Row.fetchAll(db.cachedStatement(sql: "SELECT pepper_id, COUNT(*) AS n FROM entries WHERE hash IS NOT NULL GROUP BY pepper_id")) {
        counts[row["pepper_id"]] = row["n"]
      }
      return counts
    }
  }

  public func commit(_ commit: BlocklistCommit) async throws {
    do {
      try await write(commit)
    } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
      throw BlocklistEntryConflict()
    }
    // A removed entry's full hash must not survive in an old page version of the WAL.
    if !commit.removed.isEmpty { await SQLiteDatabase.discardOldPageVersions(pool, logger: logger) }
  }

  private func write(_ commit: BlocklistCommit) async throws {
    try await pool.write { db in
      try db.execute(sql: "UPDATE last_change SET change = change + 1")
      let change = try Int64.fetchOne(db, sql: "SELECT change FROM last_change") ?? 0
      for entry in commit.added {
        try db.cachedStatement(sql: """
            INSERT INTO entries (entry_id, kind, hash, hash_prefix, pepper_id, reason, request_id, added_at, added_by, change)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [
            entry.id, entry.kind.rawValue, entry.hash?.hex, entry.hashPrefix, entry.pepperID, entry.reason, entry.requestID,
            Microseconds(entry.addedAt).value, entry.addedBy, change,
          ])
      }
      for (entryID, removal) in commit.removed {
        try db.cachedStatement(sql: """
            UPDATE entries SET hash = NULL, removed_at = ?, removal_reason = ?, removed_by = ?, change = ?
            WHERE entry_id = ? AND hash IS NOT NULL
            """).execute(arguments: [Microseconds(removal.at).value, removal.reason, removal.by, change, entryID])
      }
    }
  }

  public func lastChange() async throws -> UInt64 {
    try await pool.read { db in UInt64(try Int64.fetchOne(db, sql: "SELECT change FROM last_change") ?? 0) }
  }

  public func changes(after change: UInt64) async throws -> BlocklistChanges {
    try await pool.read { db in
      let through = UInt64(try Int64.fetchOne(db, sql: "SELECT change FROM last_change") ?? 0)
      let entries = try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM entries WHERE change > ?"), arguments: [Int64(change)])
        .map(Self.entry(from:))
      return BlocklistChanges(entries: entries, through: through)
    }
  }

  public func entries(_ filter: EntryFilter, after cursor: EntryCursor?, limit: Int) async throws -> [BlocklistEntry] {
    var conditions: [String] = []
    var arguments: [(any DatabaseValueConvertible)?] = []
    if !filter.includeRemoved { conditions.append("hash IS NOT NULL") }
    if !filter.kinds.isEmpty {
      let kinds = filter.kinds.map(\.rawValue).sorted()
      conditions.append("kind IN (\(kinds.map { _ in "?" }.joined(separator: ", ")))")
      arguments.append(contentsOf: kinds)
    }
    if let requestID = filter.requestID {
      conditions.append("request_id = ?")
      arguments.append(requestID)
    }
    if let cursor {
      conditions.append("(added_at < ? OR (added_at = ? AND entry_id < ?))")
      arguments.append(contentsOf: [cursor.addedAt.value, cursor.addedAt.value, cursor.entryID] as [(any DatabaseValueConvertible)?])
    }
    arguments.append(limit)
    let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
    let sql = "SELECT * FROM entries \(whereClause) ORDER BY added_at DESC, entry_id DESC LIMIT ?"
    let finalArguments = StatementArguments(arguments)
    return try await pool.read { db in
      try Row.fetchAll(db.cachedStatement(sql: sql), arguments: finalArguments).map(Self.entry(from:))
    }
  }

  private static func entry(from row: Row) throws -> BlocklistEntry {
    let id: String = row[Columns.entryID]
    guard let kind = IdentifierKind(rawValue: row[Columns.kind]) else { throw StoredEntryUnreadable(entryID: id) }
    var hash: KeyedHash?
    if let hex = row[Columns.hash] as String? {
      guard let parsed = KeyedHash(hex: hex) else { throw StoredEntryUnreadable(entryID: id) }
      hash = parsed
    }
    let removal = (row[Columns.removedAt] as Int64?).map {
      BlocklistEntry.Removal(at: Microseconds(value: $0).date, reason: row[Columns.removalReason], by: row[Columns.removedBy])
    }
    return BlocklistEntry(
      id: id, kind: kind, hash: hash, hashPrefix: row[Columns.hashPrefix], pepperID: row[Columns.pepperID],
      reason: row[Columns.reason], requestID: row[Columns.requestID], addedAt: Microseconds(value: row[Columns.addedAt]).date,
      addedBy: row[Columns.addedBy], removal: removal)
  }
}

/// A stored entry holding a value no code wrote (tampering or corruption).
public struct StoredEntryUnreadable: Error, Equatable {
  public var entryID: String
}
