import Foundation
import GRDB
import Logging
import PostgresNIO
import PrivacyKit

/// Copies every row of a service's SQLite tables into its PostgreSQL tables as they are: the same
/// columns, the same values (sequences, hashes, sealed bytes), so every chain verifies afterwards.
/// Each column's value is converted to the PostgreSQL column's type (SQLite keeps booleans as
/// integers and has no byte type of its own).
struct TableCopier {
  let source: DatabaseQueue
  let target: PostgresPool

  private var logger: Logger { target.logger }

  /// A table as it is copied: its name on each side and the columns both have.
  struct Table {
    var sqlite: String
    var postgres: String
    var columns: [(name: String, type: String)]
  }

  /// The source's tables in creation order (so a table comes after those it references), each
  /// matched with the target table `postgresName` names and checked to have the same columns.
  func tables(postgresName: (String) -> String) async throws -> [Table] {
    let names = try await source.read { db in
      try String.fetchAll(
        db,
        sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != 'grdb_migrations' ORDER BY rowid")
    }
    var tables: [Table] = []
    for name in names {
      let sourceColumns = try await source.read { db in try db.columns(in: name).map(\.name) }
      let target = postgresName(name)
      var targetColumns: [(name: String, type: String)] = []
      for try await (column, type) in try await self.target.query(
        """
        SELECT column_name, data_type FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name = \(target) ORDER BY ordinal_position
        """
      ).decode((String, String).self) {
        targetColumns.append((column, type))
      }
      guard !targetColumns.isEmpty else { throw MigrationRefused("the PostgreSQL schema has no table \(target) for \(name)") }
      guard Set(sourceColumns) == Set(targetColumns.map(\.name)) else {
        throw MigrationRefused(
          "\(name) and \(target) have different columns (\(sourceColumns.sorted().joined(separator: ", ")) against \(targetColumns.map(\.name).sorted().joined(separator: ", ")))")
      }
      tables.append(Table(sqlite: name, postgres: target, columns: targetColumns))
    }
    return tables
  }

  /// How many rows `table` holds on PostgreSQL.
  func rowCount(_ table: String) async throws -> Int {
    var count = 0
    for try await value in try await target.query(PostgresQuery(unsafeSQL: "SELECT COUNT(*) FROM \(table)"))
      .decode(Int.self)
    {
      count = value
    }
    return count
  }

  /// Copies `tables` in one transaction (all or nothing), in batches of rows per statement, and
  /// moves each serial column's sequence past the copied values. Returns the rows copied per
  /// table. `emptied` tables are cleared first (rows their migrations seed, replaced by the
  /// source's).
  func copy(_ tables: [Table], emptied: Set<String>) async throws -> [(table: String, rows: Int)] {
    try await target.transaction { connection in
      var copied: [(table: String, rows: Int)] = []
      for table in tables {
        if emptied.contains(table.postgres) {
          try await connection.checkedQuery(PostgresQuery(unsafeSQL: "DELETE FROM \(table.postgres)"), logger: logger)
        }
        copied.append((table.postgres, try await copy(table, connection)))
        try await advanceSequences(of: table, connection)
      }
      return copied
    }
  }

  /// Copies one table in batches, read in key order (rowid, or the primary key of a table without
  /// one) and resumed after the last key read, so each batch costs the same however far it is.
  private func copy(_ table: Table, _ connection: PostgresConnection) async throws -> Int {
    let columns = table.columns.map(\.name)
    let key = try await source.read { db in try Self.key(of: table.sqlite, db) }
    let quoted = { (names: [String]) in names.map { "\"\($0)\"" }.joined(separator: ", ") }
    // PostgreSQL takes at most 65,535 parameters per statement.
    let batch = max(1, min(1000, 65_535 / columns.count))
    let selected = "SELECT \(quoted(columns)), \(quoted(key)) FROM \"\(table.sqlite)\""
    let order = "ORDER BY \(quoted(key)) LIMIT \(batch)"
    let insertHead = "INSERT INTO \(table.postgres) (\(quoted(columns))) VALUES "
    var total = 0
    var last: [DatabaseValue]?
    while true {
      let after = last
      let rows = try await source.read { db in
        guard let after else { return try Row.fetchAll(db, sql: "\(selected) \(order)") }
        let placeholders = after.map { _ in "?" }.joined(separator: ", ")
        return try Row.fetchAll(
          db, sql: "\(selected) WHERE (\(quoted(key))) > (\(placeholders)) \(order)", arguments: StatementArguments(after))
      }
      guard let final = rows.last else { break }
      var bindings = PostgresBindings()
      var tuples: [String] = []
      for row in rows {
        var placeholders: [String] = []
        for (index, column) in table.columns.enumerated() {
          try Self.bind(row[index], as: column.type, column: "\(table.sqlite).\(column.name)", into: &bindings)
          placeholders.append("$\(bindings.count)")
        }
        tuples.append("(\(placeholders.joined(separator: ", ")))")
      }
      try await connection.checkedQuery(PostgresQuery(unsafeSQL: insertHead + tuples.joined(separator: ", "), binds: bindings), logger: logger)
      total += rows.count
      last = (columns.count..<(columns.count + key.count)).map { final[$0] }
    }
    return total
  }

  /// The columns rows are read in order of: rowid, or the primary key of a table without one.
  private static func key(of table: String, _ db: Database) throws -> [String] {
    let withoutRowID = try Bool.fetchOne(
      db, sql: "SELECT sql LIKE '%WITHOUT ROWID%' FROM sqlite_master WHERE type = 'table' AND name = ?", arguments: [table]) ?? false
    return withoutRowID ? try db.primaryKey(table).columns : ["rowid"]
  }

  /// Binds one SQLite value as the PostgreSQL column's type.
  private static func bind(_ value: DatabaseValue, as type: String, column: String, into bindings: inout PostgresBindings) throws {
    func mismatch() -> MigrationRefused { MigrationRefused("\(column) holds a value that is not \(type)") }
    switch (type, value.storage) {
    case ("bigint", .null), ("integer", .null): bindings.append(Optional<Int64>.none)
    case ("boolean", .null): bindings.append(Optional<Bool>.none)
    case ("bytea", .null): try bindings.append(Optional<Data>.none)
    case ("text", .null): bindings.append(Optional<String>.none)
    case ("bigint", .int64(let number)): bindings.append(number)
    case ("integer", .int64(let number)):
      guard let small = Int32(exactly: number) else { throw mismatch() }
      bindings.append(small)
    case ("boolean", .int64(let number)):
      guard number == 0 || number == 1 else { throw mismatch() }
      bindings.append(number == 1)
    case ("bytea", .blob(let data)): try bindings.append(data)
    case ("text", .string(let text)): bindings.append(text)
    default: throw mismatch()
    }
  }

  /// Moves the sequence of each serial column of `table` (an outbox's position) past its largest
  /// copied value, so new rows number on after the copied ones.
  private func advanceSequences(of table: Table, _ connection: PostgresConnection) async throws {
    var serials: [String] = []
    for try await column in try await connection.checkedQuery(
      """
      SELECT column_name FROM information_schema.columns
      WHERE table_schema = current_schema() AND table_name = \(table.postgres) AND column_default LIKE 'nextval(%'
      """, logger: logger
    ).decode(String.self) {
      serials.append(column)
    }
    for column in serials {
      try await connection.checkedQuery(
        PostgresQuery(
          unsafeSQL: """
            SELECT setval(pg_get_serial_sequence('\(table.postgres)', '\(column)'), COALESCE(MAX(\(column)), 0) + 1, false)
            FROM \(table.postgres)
            """), logger: logger)
    }
  }
}

/// A migration that cannot be made as asked; nothing was written.
public struct MigrationRefused: Error, CustomStringConvertible {
  public var description: String

  init(_ description: String) { self.description = description }
}
