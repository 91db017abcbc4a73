public import GRDB
public import Logging
import Foundation

/// Opens a service's SQLite file the one way every service uses it: a `DatabasePool` in WAL mode
/// with `synchronous=FULL` (an acknowledged write survives kill -9 and power loss),
/// `secure_delete` (erased personal data is overwritten, not left in free pages), foreign keys
/// and a busy timeout; migrations run before the pool is handed out.
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
