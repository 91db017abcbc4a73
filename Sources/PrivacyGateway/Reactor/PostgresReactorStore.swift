public import Foundation
import PostgresNIO
public import PrivacyKit

/// Cursors, leases and held re-entries in the gateway's PostgreSQL database, beside the audit log
/// (whose migrations create their tables). Every gateway on the database shares them; a lease is
/// taken in one statement, so two gateways asking at once cannot both get it.
public struct PostgresReactorStore: ReactorStore {
  private let database: PostgresPool

  public init(database: PostgresPool) {
    self.database = database
  }

  public func cursor(_ name: String) async throws -> UInt64 {
    var position: Int64 = 0
    let rows = try await database.query("SELECT position FROM reactor_cursors WHERE name = \(name)")
    for try await value in rows.decode(Int64.self) { position = value }
    return UInt64(position)
  }

  public func saveCursor(_ name: String, _ position: UInt64) async throws {
    try await database.query(
      """
      INSERT INTO reactor_cursors (name, position) VALUES (\(name), \(Int64(position)))
      ON CONFLICT (name) DO UPDATE SET position = excluded.position
      """)
  }

  public func acquireLease(_ name: String, holder: String, now: Date, until: Date) async throws -> Bool {
    let rows = try await database.query(
      """
      INSERT INTO leases (name, holder, expires_at) VALUES (\(name), \(holder), \(Microseconds(until).value))
      ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
      WHERE leases.holder = excluded.holder OR leases.expires_at <= \(Microseconds(now).value)
      RETURNING holder
      """)
    var taken = false
    for try await _ in rows { taken = true }
    return taken
  }

  public func releaseLease(_ name: String, holder: String) async throws {
    try await database.query("DELETE FROM leases WHERE name = \(name) AND holder = \(holder)")
  }

  public func holdReentry(_ subjectID: String, at: Date) async throws {
    try await database.query(
      "INSERT INTO held_reentries (subject_id, held_at) VALUES (\(subjectID), \(Microseconds(at).value)) ON CONFLICT (subject_id) DO NOTHING")
  }

  public func isReentryHeld(_ subjectID: String) async throws -> Bool {
    var held = false
    for try await _ in try await database.query(
      "SELECT 1 FROM held_reentries WHERE subject_id = \(subjectID)")
    {
      held = true
    }
    return held
  }

  public func dropReentry(_ subjectID: String) async throws {
    try await database.query("DELETE FROM held_reentries WHERE subject_id = \(subjectID)")
  }
}
