import Foundation
public import Logging
public import PostgresNIO
import NIOSSL

/// A pool of PostgreSQL connections for one service, running from `open` until the last holder
/// lets go of it, and the service's schema brought up to date.
public final class PostgresPool: Sendable {
  public let client: PostgresClient
  public let logger: Logger
  /// What it was opened with (`DATABASE_URL` and the replica settings).
  public let settings: PostgresSettings
  private let running: Task<Void, Never>

  private init(client: PostgresClient, settings: PostgresSettings, logger: Logger) {
    self.client = client
    self.settings = settings
    self.logger = logger
    running = Task { await client.run() }
  }

  deinit { running.cancel() }

  /// Connects and applies the migrations of `service` it has not applied yet. Several replicas
  /// starting at once take turns (an advisory lock held for the migration's transaction); a
  /// database migrated by a newer build (a version this one does not know) is refused.
  ///
  /// One connection is opened first, alone: the pool retries a failing server quietly, so a
  /// wrong host, database or password would only show as a start-up that hangs. The probe fails
  /// within its connect timeout (10 s) with a `ConfigurationError` naming `DATABASE_URL` and
  /// what the server or the network said.
  public static func open(
    _ settings: PostgresSettings, service: String, migrations: [[String]], logger: Logger
  ) async throws -> PostgresPool {
    let tls = tlsConfiguration(settings.sslMode, rootCertificate: settings.rootCertificate)
    let connection = PostgresConnection.Configuration(
      host: settings.host, port: settings.port, username: settings.username, password: settings.password,
      database: settings.database, tls: try tls.map { .require(try NIOSSLContext(configuration: $0)) } ?? .disable)
    try await probe(settings, connection, logger: logger)
    var configuration = PostgresClient.Configuration(
      host: settings.host, port: settings.port, username: settings.username, password: settings.password,
      database: settings.database, tls: tls.map { .require($0) } ?? .disable)
    configuration.options.maximumConnections = settings.poolSize
    let database = PostgresPool(
      client: PostgresClient(configuration: configuration, backgroundLogger: logger), settings: settings, logger: logger)
    try await database.migrate(service: service, migrations: migrations)
    return database
  }

  private static func probe(_ settings: PostgresSettings, _ configuration: PostgresConnection.Configuration, logger: Logger) async throws {
    let connection: PostgresConnection
    do {
      connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
    } catch {
      throw ConfigurationError.malformed(
        "DATABASE_URL",
        "names a PostgreSQL database that cannot be opened (\(settings.host):\(settings.port), database \(settings.database)): \(reason(error))")
    }
    try? await connection.close()
  }

  /// What the server said (its message never holds the password), else the network's error.
  private static func reason(_ error: any Error) -> String {
    guard let error = error as? PSQLError else { return "\(error)" }
    if let message = error.serverInfo?[.message] { return message }
    if let underlying = error.underlying { return "\(underlying)" }
    return "\(error.code)"
  }

  /// Runs `body` in one transaction, committed when it returns. An error `body` throws comes out
  /// as it was thrown (postgres-nio wraps it), so a store's own errors keep their meaning.
  public func transaction<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
    do {
      return try await client.withTransaction(logger: logger) { connection in try await body(connection) }
    } catch let error as PostgresTransactionError {
      if let thrown = error.closureError, error.rollbackError == nil { throw thrown }
      throw error
    }
  }

  /// Notifies `channel` (delivered when the transaction of `connection` commits).
  public func notify(_ channel: String, on connection: PostgresConnection) async throws {
    try await connection.query("SELECT pg_notify(\(channel), '')", logger: logger)
  }

  /// Runs `body` holding the session advisory lock `key` on a pooled connection, released after
  /// it (or by the server when the connection is lost): how replicas take turns at writing.
  public func withAdvisoryLock<T: Sendable>(_ key: Int64, _ body: () async throws -> T) async throws -> T {
    try await client.withConnection { connection in
      try await connection.query("SELECT pg_advisory_lock(\(key))", logger: logger)
      do {
        let result = try await body()
        try await connection.query("SELECT pg_advisory_unlock(\(key))", logger: logger)
        return result
      } catch {
        _ = try? await connection.query("SELECT pg_advisory_unlock(\(key))", logger: logger)
        throw error
      }
    }
  }

  /// The TLS `sslmode` asks for; nil for `disable`.
  private static func tlsConfiguration(_ mode: PostgresSettings.SSLMode, rootCertificate: String?) -> TLSConfiguration? {
    var configuration = TLSConfiguration.makeClientConfiguration()
    switch mode {
    case .disable:
      return nil
    case .require:
      configuration.certificateVerification = .none
    case .verifyFull:
      if let rootCertificate { configuration.trustRoots = .file(rootCertificate) }
    }
    return configuration
  }

  /// Migration `i` (from 1) of a service is `migrations[i - 1]`, its statements one by one;
  /// applied in order, each once, all in one transaction.
  private func migrate(service: String, migrations: [[String]]) async throws {
    let newer: SchemaNewerThanBinary? = try await client.withTransaction(logger: logger) { connection in
      try await connection.query("SELECT pg_advisory_xact_lock(\(Self.migrationLock))", logger: logger)
      try await connection.query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (service TEXT NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (service, version))",
        logger: logger)
      var applied = 0
      for try await version in try await connection.query(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations WHERE service = \(service)", logger: logger
      ).decode(Int.self) {
        applied = version
      }
      guard applied <= migrations.count else {
        return SchemaNewerThanBinary(
          path: "\(service) schema on PostgreSQL", unknownMigrations: ["\(service) v\(migrations.count + 1) to v\(applied)"])
      }
      for version in (applied + 1)..<(migrations.count + 1) {
        for statement in migrations[version - 1] {
          try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
        }
        try await connection.query("INSERT INTO schema_migrations (service, version) VALUES (\(service), \(version))", logger: logger)
      }
      return nil
    }
    // Thrown here, not in the transaction, so callers see it as it is and not wrapped.
    if let newer { throw newer }
  }

  /// The advisory-lock key every service's migrations take (any constant both sides agree on).
  private static let migrationLock: Int64 = 0x7072_6976_6163_7921
}
