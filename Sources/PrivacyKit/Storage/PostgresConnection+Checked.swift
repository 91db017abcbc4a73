public import Logging
public import PostgresNIO

extension PostgresConnection {
  /// `query`, refused at once (`DatabaseConnectionLost`) on a connection that is already closed,
  /// and read to its last row before it returns.
  ///
  /// postgres-nio 1.33 writes a statement to its channel without a promise for the write: on a
  /// connection the server has already closed (an outage, `pg_terminate_backend`, a session
  /// ended for idling in its transaction) the write fails, nothing fails the statement, and its
  /// caller waits forever. That is how a replica's write, holding its write lock, hung after the
  /// database dropped its connection: the statement after the loss, or the ROLLBACK after a
  /// failed one, never returned. Every statement this package sends goes through here, on a
  /// connection it holds (`PostgresPool`), never through the pool's own `query`, which cannot be
  /// checked between its lease and its write.
  @discardableResult
  public func checkedQuery(_ query: PostgresQuery, logger: Logger) async throws -> PostgresRows {
    guard !isClosed else { throw DatabaseConnectionLost() }
    return PostgresRows(rows: try await self.query(query, logger: logger).collect())
  }
}

/// The rows of one statement, all read: iterate them, or `decode` them as postgres-nio's own
/// row sequence is. Read to the end while the connection is held, so the connection goes back to
/// the pool, or on to the next statement, with nothing left to read.
public struct PostgresRows: AsyncSequence, Sendable {
  public typealias Element = PostgresRow
  public let rows: [PostgresRow]

  public struct AsyncIterator: AsyncIteratorProtocol {
    fileprivate var remaining: IndexingIterator<[PostgresRow]>
    public mutating func next() async throws -> PostgresRow? { remaining.next() }
  }

  public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(remaining: rows.makeIterator()) }
}

/// The database closed the connection a statement was to run on (UNAVAILABLE: try again).
public struct DatabaseConnectionLost: PrivacyError {
  public static let errorDomain = "privacy.database.v1"
  public init() {}
  public var statusCode: StatusCode { .unavailable }
  public var message: String { "the connection to the database was lost; try again" }
  public var reason: String? { "DATABASE_CONNECTION_LOST" }
}
