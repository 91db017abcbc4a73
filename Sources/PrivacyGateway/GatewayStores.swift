public import Logging
public import PrivacyKit

/// The gateway's stores, on one database: the audit log and what the reactor and workflows keep
/// beside it (cursors, leases, held re-entries). A SQLite file for one gateway; a PostgreSQL
/// database for several gateways sharing one log.
public struct GatewayStores: Sendable {
  public var audit: any AuditStore
  public var reactor: any ReactorStore

  public static func open(sqlite path: String) throws -> GatewayStores {
    let sqlite = try SQLiteAuditStore(path: path)
    return GatewayStores(audit: sqlite, reactor: SQLiteReactorStore(pool: sqlite.database))
  }

  public static func open(postgres settings: PostgresSettings, logger: Logger) async throws -> GatewayStores {
    let postgres = try await PostgresAuditStore.open(settings, logger: logger)
    return GatewayStores(audit: postgres, reactor: PostgresReactorStore(database: postgres.database))
  }
}
