import Foundation
import GRDB
import PrivacyKit
import PrivacyTesting
import Testing

@Suite("Database files and the binary's migrations")
struct SchemaVersionTests {
  static func migrator(_ identifiers: [String]) -> DatabaseMigrator {
    var migrator = DatabaseMigrator()
    for identifier in identifiers {
      migrator.registerMigration(identifier) { db in try db.execute(sql: "CREATE TABLE t_\(identifier) (x INTEGER)") }
    }
    return migrator
  }

  @Test("a file migrated by a newer version is refused at open, naming the unknown migrations, and left as it was")
  func newerSchemaRefused() throws {
    let directory = try TestDirectory()
    defer { directory.remove() }
    let path = directory.path("service.sqlite")
    _ = try SQLiteDatabase.open(path: path, migrator: Self.migrator(["v1", "v2", "v3"]))
    #expect(throws: SchemaNewerThanBinary.self) { try SQLiteDatabase.open(path: path, migrator: Self.migrator(["v1"])) }
    do {
      _ = try SQLiteDatabase.open(path: path, migrator: Self.migrator(["v1"]))
    } catch let error as SchemaNewerThanBinary {
      #expect(error.unknownMigrations == ["v2", "v3"] && error.description.contains("newer version"))
    }
    let untouched = try DatabaseQueue(path: path).read { try Self.migrator([]).appliedIdentifiers($0) }
    #expect(untouched == ["v1", "v2", "v3"])
    // The same or a newer binary opens it; an older file is migrated forward.
    let pool = try SQLiteDatabase.open(path: path, migrator: Self.migrator(["v1", "v2", "v3", "v4"]))
    #expect(try pool.read { try Self.migrator(["v1", "v2", "v3", "v4"]).appliedIdentifiers($0) } == ["v1", "v2", "v3", "v4"])
  }
}
