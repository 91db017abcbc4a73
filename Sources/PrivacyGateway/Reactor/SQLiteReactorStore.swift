public import Foundation
public import GRDB
import PrivacyKit

/// Cursors, leases and held re-entries in the gateway's database file, beside the audit log (whose migrator
/// creates their tables). Several gateways on one file share them.
public struct SQLiteReactorStore: ReactorStore {
  private let pool: DatabasePool

  public init(pool: DatabasePool) {
    self.pool = pool
  }

  public func cursor(_ name: String) async throws -> UInt64 {
    try await pool.read { db in
      UInt64(try Int64.fetchOne(db, sql: "SELECT position FROM reactor_cursors WHERE name = ?", arguments: [name]) ?? 0)
    }
  }

  public func saveCursor(_ name: String, _ position: UInt64) async throws {
    try await pool.write { db in
      try db.execute(
        sql: "INSERT INTO reactor_cursors (name, position) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET position = excluded.position",
        arguments: [name, Int64(position)])
    }
  }

  public func acquireLease(_ name: String, holder: String, now: Date, until: Date) async throws -> Bool {
    try await pool.write { db in
      let row = try Row.fetchOne(db, sql: "SELECT holder, expires_at FROM leases WHERE name = ?", arguments: [name])
      if let row, row["holder"] as String != holder, row["expires_at"] as Int64 > Microseconds(now).value { return false }
      try db.execute(
        sql: """
          INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
          ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
          """,
        arguments: [name, holder, Microseconds(until).value])
      return true
    }
  }

  public func releaseLease(_ name: String, holder: String) async throws {
    try await pool.write { db in
      try db.execute(sql: "DELETE FROM leases WHERE name = ? AND holder = ?", arguments: [name, holder])
    }
  }

  public func holdReentry(_ subjectID: String, at: Date) async throws {
    try await pool.write { db in
      try db.execute(
        sql: "INSERT INTO held_reentries (subject_id, held_at) VALUES (?, ?) ON CONFLICT(subject_id) DO NOTHING",
        arguments: [subjectID, Microseconds(at).value])
    }
  }

  public func isReentryHeld(_ subjectID: String) async throws -> Bool {
    try await pool.read { db in
      try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM held_reentries WHERE subject_id = ?)", arguments: [subjectID]) ?? false
    }
  }

  public func dropReentry(_ subjectID: String) async throws {
    try await pool.write { db in
      try db.execute(sql: "DELETE FROM held_reentries WHERE subject_id = ?", arguments: [subjectID])
    }
  }
}

extension SQLiteReactorStore {
  /// Marks the consent ledger as followed through `sequence` in the gateway's database file, so
  /// the consent reactor starts after it: for a data directory whose ledger history was written
  /// with its consequences already in place (`privacy-suite seed`).
  public static func consentReactorFollowed(through sequence: UInt64, databasePath: String) async throws {
    let store = SQLiteReactorStore(pool: try SQLiteAuditStore(path: databasePath).database)
    try await store.saveCursor(ConsentReactor.name, sequence)
  }
}
