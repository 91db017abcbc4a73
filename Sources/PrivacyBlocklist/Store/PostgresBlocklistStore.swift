import Foundation
public import Logging
import PostgresNIO
public import PrivacyKit

/// The blocklist store on PostgreSQL, for a service that shares its data with other processes.
/// The same table as on SQLite; each commit is one transaction.
public struct PostgresBlocklistStore: BlocklistStore {
  private let database: PostgresPool

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
    ]
  ]

  private static let columns = """
    entry_id, kind, hash, hash_prefix, pepper_id, reason, request_id, added_at, added_by, removed_at, removal_reason, removed_by
    """

  public func activeEntries() async throws -> [BlocklistEntry] {
    try await entries(PostgresQuery(unsafeSQL: "SELECT \(Self.columns) FROM blocklist_entries WHERE hash IS NOT NULL"))
  }

  public func activeCountsByPepper() async throws -> [String: Int] {
    var counts: [String: Int] = [:]
    let rows = try await database.client.query(
      "SELECT pepper_id, COUNT(*) FROM blocklist_entries WHERE hash IS NOT NULL GROUP BY pepper_id", logger: database.logger)
    for try await (pepperID, count) in rows.decode((String, Int).self) { counts[pepperID] = count }
    return counts
  }

  public func commit(_ commit: BlocklistCommit) async throws {
    try await database.client.withTransaction(logger: database.logger) { connection in
      for entry in commit.added {
        try await connection.query(
          """
          INSERT INTO blocklist_entries (entry_id, kind, hash, hash_prefix, pepper_id, reason, request_id, added_at, added_by)
          VALUES (\(entry.id), \(entry.kind.rawValue), \(entry.hash?.hex), \(entry.hashPrefix), \(entry.pepperID), \(entry.reason),
            \(entry.requestID), \(Microseconds(entry.addedAt).value), \(entry.addedBy))
          """, logger: database.logger)
      }
      for (entryID, removal) in commit.removed {
        try await connection.query(
          """
          UPDATE blocklist_entries SET hash = NULL, removed_at = \(Microseconds(removal.at).value), removal_reason = \(removal.reason),
            removed_by = \(removal.by)
          WHERE entry_id = \(entryID) AND hash IS NOT NULL
          """, logger: database.logger)
      }
    }
  }

  public func entries(_ filter: EntryFilter, after cursor: EntryCursor?, limit: Int) async throws -> [BlocklistEntry] {
    var bindings = PostgresBindings()
    var conditions: [String] = []
    /// Binds `value` and returns its placeholder.
    func bind(_ value: some PostgresDynamicTypeEncodable) -> String {
      bindings.append(value)
      return "$\(bindings.count)"
    }
    if !filter.includeRemoved { conditions.append("hash IS NOT NULL") }
    if !filter.kinds.isEmpty {
      conditions.append("kind IN (\(filter.kinds.map(\.rawValue).sorted().map { bind($0) }.joined(separator: ", ")))")
    }
    if let requestID = filter.requestID { conditions.append("request_id = \(bind(requestID))") }
    if let cursor {
      let addedAt = bind(cursor.addedAt.value)
      conditions.append("(added_at < \(addedAt) OR (added_at = \(addedAt) AND entry_id < \(bind(cursor.entryID))))")
    }
    let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
    let sql = "SELECT \(Self.columns) FROM blocklist_entries \(whereClause) ORDER BY added_at DESC, entry_id DESC LIMIT \(bind(limit))"
    return try await entries(PostgresQuery(unsafeSQL: sql, binds: bindings))
  }

  private func entries(_ query: PostgresQuery) async throws -> [BlocklistEntry] {
    var entries: [BlocklistEntry] = []
    let rows = try await database.client.query(query, logger: database.logger)
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
