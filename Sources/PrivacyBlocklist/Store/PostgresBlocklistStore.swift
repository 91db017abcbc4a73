import Foundation
public import Logging
import PostgresNIO
public import PrivacyKit

/// The blocklist store on PostgreSQL, for a service that shares its data with other processes.
/// The same table as on SQLite; each commit is one transaction.
public struct PostgresBlocklistStore: BlocklistStore {
  /// The pool, which the replica follower shares.
  public let database: PostgresPool

  public static func open(_ settings: PostgresSettings, logger: Logger) async throws -> PostgresBlocklistStore {
    PostgresBlocklistStore(database: try await PostgresPool.open(settings, service: "blocklist", migrations: migrations, logger: logger))
  }

  private init(database: PostgresPool) { self.database = database }

  /// One list of statements per schema version, in order; never edited once released.
  static let migrations: [[String]] = [
    [
      // `hash` holds the full keyed hash (hex) of an active entry and is NULL once removed; the
      // partial unique index both answers lookups and keeps one active entry per hash.
      """
      CREATE TABLE blocklist_entries (
        entry_id TEXT PRIMARY KEY, kind TEXT NOT NULL, hash TEXT, hash_prefix TEXT NOT NULL,
        pepper_id TEXT NOT NULL, reason TEXT NOT NULL, request_id TEXT NOT NULL, added_at BIGINT NOT NULL,
        added_by TEXT NOT NULL, removed_at BIGINT, removal_reason TEXT NOT NULL DEFAULT '',
        removed_by TEXT NOT NULL DEFAULT '',
        CHECK ((hash IS NULL) = (removed_at IS NOT NULL)))
      """,
      "CREATE UNIQUE INDEX blocklist_entries_active_hash ON blocklist_entries (hash) WHERE hash IS NOT NULL",
      "CREATE INDEX blocklist_entries_newest ON blocklist_entries (added_at DESC, entry_id DESC)",
      "CREATE INDEX blocklist_entries_by_request ON blocklist_entries (request_id, added_at DESC, entry_id DESC)",
    ],
    // Change numbers for replicas to follow: the one row of `blocklist_last_change`, locked by
    // each commit's update until it commits, hands them out in commit order.
    [
      "ALTER TABLE blocklist_entries ADD COLUMN change BIGINT NOT NULL DEFAULT 0",
      "CREATE INDEX blocklist_entries_by_change ON blocklist_entries (change)",
      "CREATE TABLE blocklist_last_change (id INTEGER PRIMARY KEY CHECK (id = 1), change BIGINT NOT NULL)",
      "INSERT INTO blocklist_last_change (id, change) VALUES (1, 0)",
    ],
  ]

  /// The channel each commit notifies with its change number (`ReplicaFollower` listens).
  public static let changesChannel = "blocklist_changes"

  private static let columns = """
    entry_id, kind, hash, hash_prefix, pepper_id, reason, request_id, added_at, added_by, removed_at, removal_reason, removed_by
    """

  public func activeEntries() async throws -> [BlocklistEntry] {
    try await entries(PostgresQuery(unsafeSQL: "SELECT \(Self.columns) FROM blocklist_entries WHERE hash IS NOT NULL"))
  }

  public func activeCountsByPepper() async throws -> [String: Int] {
    var counts: [String: Int] = [:]
    let rows = try await database.query(
      "SELECT pepper_id, COUNT(*) FROM blocklist_entries WHERE hash IS NOT NULL GROUP BY pepper_id")
    for try await (pepperID, count) in rows.decode((String, Int).self) { counts[pepperID] = count }
    return counts
  }

  public func commit(_ commit: BlocklistCommit) async throws {
    do {
      try await write(commit)
    } catch let error as PSQLError where error.serverInfo?[.sqlState] == Self.uniqueViolation {
      throw BlocklistEntryConflict()
    }
  }

  /// PostgreSQL's SQLSTATE for a unique index refusing a row.
  private static let uniqueViolation = "23505"

  private func write(_ commit: BlocklistCommit) async throws {
    try await database.transaction { connection in
      var change: Int64 = 0
      for try await value in try await connection.checkedQuery(
        "UPDATE blocklist_last_change SET change = change + 1 RETURNING change", logger: database.logger
      ).decode(Int64.self) {
        change = value
      }
      for entry in commit.added {
        try await connection.checkedQuery(
          """
          INSERT INTO blocklist_entries (entry_id, kind, hash, hash_prefix, pepper_id, reason, request_id, added_at, added_by, change)
          VALUES (\(entry.id), \(entry.kind.rawValue), \(entry.hash?.hex), \(entry.hashPrefix), \(entry.pepperID), \(entry.reason),
            \(entry.requestID), \(Microseconds(entry.addedAt).value), \(entry.addedBy), \(change))
          """, logger: database.logger)
      }
      for (entryID, removal) in commit.removed {
        try await connection.checkedQuery(
          """
          UPDATE blocklist_entries SET hash = NULL, removed_at = \(Microseconds(removal.at).value), removal_reason = \(removal.reason),
            removed_by = \(removal.by), change = \(change)
          WHERE entry_id = \(entryID) AND hash IS NOT NULL
          """, logger: database.logger)
      }
      // Delivered to listeners when the transaction commits, not before.
      try await database.notify(Self.changesChannel, on: connection)
    }
  }

  public func lastChange() async throws -> UInt64 {
    var change: Int64 = 0
    let rows = try await database.query("SELECT change FROM blocklist_last_change")
    for try await value in rows.decode(Int64.self) { change = value }
    return UInt64(change)
  }

  /// The last change number is read before the entries: a commit landing between the two reads
  /// shows in the entries and is read again next time, never missed.
  public func changes(after change: UInt64) async throws -> BlocklistChanges {
    let through = try await lastChange()
    let entries = try await entries("SELECT \(unescaped: Self.columns) FROM blocklist_entries WHERE change > \(Int64(change))")
    return BlocklistChanges(entries: entries, through: through)
  }

  public func entries(_ filter: EntryFilter, after cursor: EntryCursor?, limit: Int) async throws -> [BlocklistEntry] {
    var bindings = PostgresBindings()
    var conditions: [String] = []
    if !filter.includeRemoved { conditions.append("hash IS NOT NULL") }
    if !filter.kinds.isEmpty {
      conditions.append("kind IN (\(filter.kinds.map(\.rawValue).sorted().map { bindings.placeholder(for: $0) }.joined(separator: ", ")))")
    }
    if let requestID = filter.requestID { conditions.append("request_id = \(bindings.placeholder(for: requestID))") }
    if let cursor {
      let addedAt = bindings.placeholder(for: cursor.addedAt.value)
      conditions.append("(added_at < \(addedAt) OR (added_at = \(addedAt) AND entry_id < \(bindings.placeholder(for: cursor.entryID))))")
    }
    let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
    let sql = "SELECT \(Self.columns) FROM blocklist_entries \(whereClause) ORDER BY added_at DESC, entry_id DESC LIMIT \(bindings.placeholder(for: limit))"
    return try await entries(PostgresQuery(unsafeSQL: sql, binds: bindings))
  }

  private func entries(_ query: PostgresQuery) async throws -> [BlocklistEntry] {
    var entries: [BlocklistEntry] = []
    let rows = try await database.query(query)
    typealias Columns = (String, String, String?, String, String, String, String, Int64, String, Int64?, String, String)
    for try await row in rows.decode(Columns.self) {
      let (id, kindName, hex, hashPrefix, pepperID, reason, requestID, addedAt, addedBy, removedAt, removalReason, removedBy) = row
      guard let kind = IdentifierKind(rawValue: kindName) else { throw StoredEntryUnreadable(entryID: id) }
      var hash: KeyedHash?
      if let hex {
        guard let parsed = KeyedHash(hex: hex) else { throw StoredEntryUnreadable(entryID: id) }
        hash = parsed
      }
      entries.append(
        BlocklistEntry(
          id: id, kind: kind, hash: hash, hashPrefix: hashPrefix, pepperID: pepperID, reason: reason, requestID: requestID,
          addedAt: Microseconds(value: addedAt).date, addedBy: addedBy,
          removal: removedAt.map { BlocklistEntry.Removal(at: Microseconds(value: $0).date, reason: removalReason, by: removedBy) }))
    }
    return entries
  }
}
