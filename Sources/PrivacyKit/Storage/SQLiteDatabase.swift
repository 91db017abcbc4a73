public import GRDB
public import Logging
import Foundation

/// Opens a service's SQLite file the one way every service uses it: a `DatabasePool` in WAL mode
/// with `synchronous=FULL` (an acknowledged write survives kill -9 and power loss),
/// `secure_delete` (erased personal data is overwritten, not left in free pages), foreign keys
/// and a busy timeout; migrations run before the pool is handed out, and a file that a newer
/// version has migrated further is refused rather than used with a schema this binary does not
/// know.
public enum SQLiteDatabase {
  /// - Parameter durable: false only for a bulk load that is simply run again if the machine
  ///   fails meanwhile (`privacy-suite seed`): commits then skip the disk flush.
  public static func open(path: String, migrator: DatabaseMigrator, durable: Bool = true) throws -> DatabasePool {
    let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)

    var configuration = Configuration()
    configuration.foreignKeysEnabled = true
    configuration.busyMode = .timeout(10)
    configuration.prepareDatabase { db in
      try db.execute(sql: durable ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = OFF")
      try db.execute(sql: "PRAGMA secure_delete = ON")
    }
    let pool = try DatabasePool(path: path, configuration: configuration)
    let unknown = try pool.read { db in try migrator.appliedIdentifiers(db).subtracting(migrator.migrations) }
    guard unknown.isEmpty else { throw SchemaNewerThanBinary(path: path, unknownMigrations: unknown.sorted()) }
    try migrator.migrate(pool)
    return pool
  }

  /// Folds the write-ahead log into the database file and truncates it. Old versions of pages
  /// (which may still hold values just erased) live in the WAL until then; with `secure_delete`
  /// the erased bytes in the database file itself are already zeroed. Call after a committed
  /// write that removed sensitive bytes. Best effort: the write is already committed, so a
  /// failure here must not become an error the caller would retry (or leave a service's memory
  /// behind its database); it is logged and the old versions go at the next checkpoint.
  public static func discardOldPageVersions(_ pool: DatabasePool, logger: Logger) async {
    do {
      try await pool.writeWithoutTransaction { db in
        _ = try db.checkpoint(.truncate)
      }
    } catch {
      logger.warning(
        "WAL checkpoint after a removal failed; old page versions remain until the next checkpoint",
        metadata: ["error.type": "\(type(of: error))"])
    }
  }

  /// The database file and its WAL and shared-memory companions, for tests that inspect bytes.
  public static func files(of path: String) -> [String] {
    [path, path + "-wal", path + "-shm"]
  }
}

/// A database file holds migrations this binary does not know: a newer version wrote it. The
/// service stops at start rather than read or write a schema it does not understand.
public struct SchemaNewerThanBinary: Error, CustomStringConvertible {
  public var path: String
  public var unknownMigrations: [String]

  public var description: String {
    "the database \(path) was migrated by a newer version (migrations \(unknownMigrations.joined(separator: ", ")) are unknown "
      + "to this binary): run that version, or restore a backup made before the upgrade"
  }
}
