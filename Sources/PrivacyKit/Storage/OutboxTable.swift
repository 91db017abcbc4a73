public import Foundation
public import GRDB
public import Logging
public import PostgresNIO

/// An outbox message as the delivery statements need to see it.
public protocol DeliverableMessage: Sendable {
  /// Position in the outbox, oldest first.
  var position: Int64 { get }
  var ackedAt: Date? { get }
  var delivery: OutboxDelivery { get }
}

/// The delivery statements of one service's outbox table, the same on SQLite and PostgreSQL:
/// acknowledge, lease the due messages, record a failed attempt. The table has the columns of
/// `OutboxDeliveryColumns` and an `acked_at` and `message_id`.
public struct OutboxTable: Sendable {
  /// The table's name.
  public let name: String
  /// The assignments (`column = ''`) wiping what a sent or failed message no longer holds: its
  /// address and everything a clear token is in.
  public let wipedColumns: String

  public init(name: String, wipedColumns: String) {
    self.name = name
    self.wipedColumns = wipedColumns
  }

  /// Due now: neither acknowledged nor failed, past its next attempt and any lease.
  private var due: String { "acked_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $2 AND leased_until <= $2" }

  private var acknowledgement: String { "UPDATE \(name) SET acked_at = $1, leased_until = 0, \(wipedColumns) WHERE message_id = $2 AND acked_at IS NULL" }

  private var retry: String {
    "UPDATE \(name) SET attempts = attempts + 1, next_attempt_at = $1, leased_until = 0, last_failure = $2 WHERE message_id = $3"
  }

  private var failure: String {
    "UPDATE \(name) SET attempts = attempts + 1, failed_at = $1, leased_until = 0, last_failure = $2, \(wipedColumns) WHERE message_id = $3"
  }
}

// MARK: SQLite

extension OutboxTable {
  /// Acknowledges `ids` in one transaction; answers how many were newly acknowledged. An unknown
  /// id throws `notFound(id)` and acknowledges nothing.
  public func acknowledge(_ db: Database, ids: [String], at: Date, notFound: (String) -> any Error) throws -> Int {
    var acked = 0
    for id in ids {
      guard try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM \(name) WHERE message_id = ?"), arguments: [id]) != nil else {
        throw notFound(id)
      }
      try db.cachedStatement(sql: sqlite(acknowledgement)).execute(arguments: [Microseconds(at).value, id])
      acked += db.changesCount
    }
    return acked
  }

  public func lease<Message: DeliverableMessage>(
    _ db: Database, limit: Int, until: Date, now: Date, decode: (Row) throws -> Message
  ) throws -> [Message] {
    try Row.fetchAll(
      db.cachedStatement(
        sql: sqlite(
          """
          UPDATE \(name) SET leased_until = $1 WHERE message_id IN (
            SELECT message_id FROM \(name) WHERE \(due) ORDER BY position LIMIT $3)
          RETURNING *
          """)),
      arguments: [Microseconds(until).value, Microseconds(now).value, limit]
    ).map(decode).sorted { $0.position < $1.position }
  }

  public func reportFailure<Message: DeliverableMessage>(
    _ db: Database, _ report: OutboxFailureReport, at: Date, decode: (Row) throws -> Message, notFound: (String) -> any Error
  ) throws -> Message {
    let select = "SELECT * FROM \(name) WHERE message_id = ?"
    guard let row = try Row.fetchOne(db.cachedStatement(sql: select), arguments: [report.messageID]) else { throw notFound(report.messageID) }
    let message = try decode(row)
    guard message.ackedAt == nil, message.delivery.failedAt == nil else { return message }
    let (statement, time) = report.retryAt.map { (retry, $0) } ?? (failure, at)
    try db.cachedStatement(sql: sqlite(statement)).execute(arguments: [Microseconds(time).value, report.failure, report.messageID])
    return try decode(try Row.fetchOne(db.cachedStatement(sql: select), arguments: [report.messageID])!)
  }

  /// SQLite names numbered parameters `?N`.
  private func sqlite(_ statement: String) -> String {
    statement.replacingOccurrences(of: "$", with: "?")
  }
}

// MARK: PostgreSQL

extension OutboxTable {
  /// As on SQLite; `connection` is in a transaction.
  public func acknowledge(
    _ connection: PostgresConnection, ids: [String], at: Date, logger: Logger, notFound: (String) -> any Error
  ) async throws -> Int {
    var acked = 0
    for id in ids {
      var found = false
      for try await _ in try await connection.checkedQuery(
        PostgresQuery(unsafeSQL: "SELECT 1 FROM \(name) WHERE message_id = $1 FOR UPDATE", binds: binds(id)), logger: logger)
      {
        found = true
      }
      guard found else { throw notFound(id) }
      var updated = 0
      for try await _ in try await connection.checkedQuery(
        PostgresQuery(unsafeSQL: acknowledgement + " RETURNING 1", binds: binds(Microseconds(at).value, id)), logger: logger)
      {
        updated += 1
      }
      acked += updated
    }
    return acked
  }

  /// `columns` are the ones `decode` reads. SKIP LOCKED: relays leasing at the same moment each
  /// take other messages instead of waiting for one another.
  public func lease<Message: DeliverableMessage>(
    _ connection: PostgresConnection, columns: String, limit: Int, until: Date, now: Date, logger: Logger,
    decode: (PostgresRows) async throws -> [Message]
  ) async throws -> [Message] {
    let statement = """
      UPDATE \(name) SET leased_until = $1 WHERE message_id IN (
        SELECT message_id FROM \(name) WHERE \(due) ORDER BY position LIMIT $3 FOR UPDATE SKIP LOCKED)
      RETURNING \(columns)
      """
    let rows = try await connection.checkedQuery(
      PostgresQuery(unsafeSQL: statement, binds: binds(Microseconds(until).value, Microseconds(now).value, Int64(limit))), logger: logger)
    return try await decode(rows).sorted { $0.position < $1.position }
  }

  /// As on SQLite; `connection` is in a transaction.
  public func reportFailure<Message: DeliverableMessage>(
    _ connection: PostgresConnection, columns: String, _ report: OutboxFailureReport, at: Date, logger: Logger,
    decode: (PostgresRows) async throws -> [Message], notFound: (String) -> any Error
  ) async throws -> Message {
    let select = PostgresQuery(unsafeSQL: "SELECT \(columns) FROM \(name) WHERE message_id = $1 FOR UPDATE", binds: binds(report.messageID))
    guard let message = try await decode(connection.checkedQuery(select, logger: logger)).first else { throw notFound(report.messageID) }
    guard message.ackedAt == nil, message.delivery.failedAt == nil else { return message }
    let (statement, time) = report.retryAt.map { (retry, $0) } ?? (failure, at)
    try await connection.checkedQuery(
      PostgresQuery(unsafeSQL: statement, binds: binds(Microseconds(time).value, report.failure, report.messageID)), logger: logger)
    return try await decode(connection.checkedQuery(select, logger: logger))[0]
  }

  private func binds(_ values: any PostgresDynamicTypeEncodable...) -> PostgresBindings {
    var bindings = PostgresBindings()
    for value in values { bindings.append(value) }
    return bindings
  }
}

// MARK: Columns

extension OutboxDelivery {
  /// From stored columns, where 0 stands for "never" in the two times that are always written.
  public init(storedAttempts attempts: Int64, nextAttemptAt: Int64, leasedUntil: Int64, failedAt: Int64?, lastFailure: String) {
    self.init(
      attempts: Int(attempts), nextAttemptAt: nextAttemptAt == 0 ? nil : Microseconds(value: nextAttemptAt).date,
      leasedUntil: leasedUntil == 0 ? nil : Microseconds(value: leasedUntil).date,
      failedAt: failedAt.map { Microseconds(value: $0).date }, lastFailure: lastFailure)
  }
}

extension OutboxFilter {
  /// The condition to AND onto a listing's WHERE (the same in SQLite and PostgreSQL).
  public var sqlCondition: String {
    switch self {
    case .pending: "AND acked_at IS NULL AND failed_at IS NULL"
    case .all: ""
    case .failed: "AND failed_at IS NOT NULL"
    }
  }
}

/// The columns a delivery adds to an outbox table, and the index that finds the due messages.
public enum OutboxDeliveryColumns {
  /// The statements adding them to `table`; `integer` is the database's 64-bit integer type.
  public static func migration(table: String, integer: String) -> [String] {
    [
      "ALTER TABLE \(table) ADD COLUMN attempts \(integer) NOT NULL DEFAULT 0",
      "ALTER TABLE \(table) ADD COLUMN next_attempt_at \(integer) NOT NULL DEFAULT 0",
      "ALTER TABLE \(table) ADD COLUMN leased_until \(integer) NOT NULL DEFAULT 0",
      "ALTER TABLE \(table) ADD COLUMN failed_at \(integer)",
      "ALTER TABLE \(table) ADD COLUMN last_failure TEXT NOT NULL DEFAULT ''",
      "CREATE INDEX \(table)_due ON \(table) (position) WHERE acked_at IS NULL AND failed_at IS NULL",
    ]
  }
}
