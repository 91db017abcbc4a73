public import Logging
public import PostgresNIO

extension PostgresConnection {
  /// `query`, refused at once (`DatabaseConnectionLost`) on a connection that is already closed.
  ///
  /// postgres-nio 1.33 writes a statement to its channel without a promise for the write: on a
  /// connection the server has already closed (an outage, `pg_terminate_backend`, a session
  /// ended for idling in its transaction) the write fails, nothing fails the statement, and its
  /// caller waits forever. That is how a replica's write, holding its write lock, hung after the
  /// database dropped its connection: the statement after the loss, or the ROLLBACK after a
  /// failed one, never returned. Every statement this package sends on a connection it holds
  /// goes through here.
  @discardableResult
  public func checkedQuery(_ query: PostgresQuery, logger: Logger) async throws -> PostgresRowSequence {
    guard !isClosed else { throw DatabaseConnectionLost() }
    return try await self.query(query, logger: logger)
  }
}

/// The database closed the connection a statement was to run on (UNAVAILABLE: try again).
public struct DatabaseConnectionLost: PrivacyError {
  public static let errorDomain = "privacy.database.v1"
  public init() {}
  public var statusCode: StatusCode { .unavailable }
  public var message: String { "the connection to the database was lost; try again" }
  public var reason: String? { "DATABASE_CONNECTION_LOST" }
}
