public import Foundation
import GRDB
public import Logging
import PrivacyBlocklist
import PrivacyConsent
import PrivacyGateway
public import PrivacyKit
import PrivacyRights
import PrivacyVault

/// `privacy-suite migrate`: moves a service from its SQLite file to PostgreSQL, keeping every
/// row as it is (sequences, hashes, sealed values and wrapped keys), so its chains verify on
/// PostgreSQL as they did on SQLite. Both sides are first brought to the binary's schema by the
/// service's own migrations; a target that already holds data is refused, and the copy is one
/// transaction, so a failed migration leaves the target as it found it. Stop the service first:
/// what it writes during the copy would not be copied.
public enum Migrator {
  /// The services that can be migrated, by executable name, and the file each keeps in a data
  /// directory (as the launcher names it).
  public static let services = ["consent-service", "vault-service", "subject-rights-service", "blocklist-service", "gateway"]

  public static func file(of service: String) -> String { "\(service).sqlite" }

  /// What one service's migration copied: rows per PostgreSQL table.
  public struct Report: Sendable {
    public var service: String
    public var tables: [(table: String, rows: Int)]
  }

  /// Migrates `service` from the SQLite file at `path` to the PostgreSQL database `target`.
  public static func migrate(service: String, from path: String, to target: PostgresSettings, logger: Logger) async throws -> Report {
    guard FileManager.default.fileExists(atPath: path) else { throw MigrationRefused("\(path) does not exist") }
    guard let marker = markers[service] else {
      throw MigrationRefused("unknown service \(service); one of \(services.joined(separator: ", "))")
    }
    // Read before the service's migrations touch the file: those of another service would add
    // their tables to it.
    let source = try DatabaseQueue(path: path, configuration: readOnly)
    guard try await source.read({ db in try db.tableExists(marker) }) else {
      throw MigrationRefused("\(path) is not a \(service) database (it has no table \(marker))")
    }
    let plan = try await open(service, path: path, target: target, logger: logger)
    let copier = TableCopier(source: source, target: plan.target)
    let tables = try await copier.tables { name in name.hasPrefix(plan.prefix) ? name : plan.prefix + name }
    for table in tables where !plan.seeded.contains(table.postgres) {
      let rows = try await copier.rowCount(table.postgres)
      if rows > 0 { throw MigrationRefused("the target already holds data (\(rows) rows in \(table.postgres)); migrate into an empty database") }
    }
    let copied = try await copier.copy(tables, emptied: plan.seeded)
    return Report(service: service, tables: copied)
  }

  /// A table every database of the service has had since its first schema version.
  private static let markers = [
    "consent-service": "consent_events", "vault-service": "access_log", "subject-rights-service": "requests",
    "blocklist-service": "entries", "gateway": "audit_log",
  ]

  private static var readOnly: Configuration {
    var configuration = Configuration()
    configuration.readonly = true
    return configuration
  }

  /// A service's two stores opened (so both schemas are current) and how its tables are named on
  /// PostgreSQL: the prefix of its tables there, and the tables its migrations seed with a row.
  private struct Plan {
    var target: PostgresPool
    var prefix: String
    var seeded: Set<String> = []
  }

  private static func open(_ service: String, path: String, target: PostgresSettings, logger: Logger) async throws -> Plan {
    switch service {
    case "consent-service":
      _ = try SQLiteConsentStore(path: path, logger: logger)
      return Plan(target: try await PostgresConsentStore.open(target, logger: logger).database, prefix: "consent_")
    case "vault-service":
      _ = try SQLiteVaultStore(path: path, logger: logger)
      return Plan(target: try await PostgresVaultStore.open(target, logger: logger).database, prefix: "vault_")
    case "subject-rights-service":
      _ = try SQLiteRightsStore(path: path, logger: logger)
      return Plan(target: try await PostgresRightsStore.open(target, logger: logger).database, prefix: "rights_")
    case "blocklist-service":
      _ = try SQLiteBlocklistStore(path: path, logger: logger)
      return Plan(
        target: try await PostgresBlocklistStore.open(target, logger: logger).database, prefix: "blocklist_",
        seeded: ["blocklist_last_change"])
    case "gateway":
      _ = try GatewayStores.open(sqlite: path)
      return Plan(target: try await PostgresAuditStore.open(target, logger: logger).database, prefix: "")
    default:
      throw MigrationRefused("unknown service \(service); one of \(services.joined(separator: ", "))")
    }
  }
}
