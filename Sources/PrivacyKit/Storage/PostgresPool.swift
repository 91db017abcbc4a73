import Foundation
public import Logging
public import PostgresNIO
import NIOSSL
import Synchronization

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
  ///
  /// `writerIdleLimit`: how long any transaction of the pool may sit idle between statements
  /// before the server ends its session (what bounds `withWriterTransaction`); shorter only in tests.
  public static func open(
    _ settings: PostgresSettings, service: String, migrations: [[String]], logger: Logger,
    writerIdleLimit: Duration = defaultWriterIdleLimit
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
    let idleMilliseconds = Int(writerIdleLimit / .milliseconds(1))
    configuration.options.additionalStartupParameters = [("idle_in_transaction_session_timeout", "\(idleMilliseconds)")]
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
  /// as it was thrown, so a store's own errors keep their meaning. Inside `withWriterTransaction`
  /// it runs in the writer's transaction, committed with it.
  ///
  /// Not postgres-nio's `withTransaction`: its ROLLBACK after a failure on a connection the
  /// server closed never returns (`checkedQuery`).
  public func transaction<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
    if let connection = writerConnection { return try await body(connection) }
    return try await client.withConnection { connection in
      try await connection.checkedQuery("BEGIN", logger: logger)
      let value: T
      do {
        value = try await body(connection)
      } catch {
        do {
          try await connection.checkedQuery("ROLLBACK", logger: logger)
        } catch {
          // Not back in the pool still inside the transaction.
          try? await connection.close()
        }
        throw error
      }
      try await connection.checkedQuery("COMMIT", logger: logger)
      return value
    }
  }

  /// Runs `body`'s reads on one snapshot (a `REPEATABLE READ, READ ONLY` transaction: READ
  /// COMMITTED would give each statement its own). Inside `withWriterTransaction` it runs in the
  /// writer's transaction instead, whose lock keeps every other writer out meanwhile.
  public func snapshot<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
    if let connection = writerConnection { return try await body(connection) }
    return try await transaction { connection in
      try await connection.checkedQuery("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", logger: logger)
      return try await body(connection)
    }
  }

  /// Runs one statement: on the writer transaction's connection inside `withWriterTransaction`
  /// (so it sees what the write did so far and never waits on the write's own locks), else on
  /// any pooled connection (`checkedQuery`).
  @discardableResult
  public func query(_ query: PostgresQuery) async throws -> PostgresRows {
    if let connection = writerConnection { return try await connection.checkedQuery(query, logger: logger) }
    return try await client.withConnection { connection in try await connection.checkedQuery(query, logger: logger) }
  }

  /// Notifies `channel` (delivered when the transaction of `connection` commits).
  public func notify(_ channel: String, on connection: PostgresConnection) async throws {
    try await connection.checkedQuery("SELECT pg_notify(\(channel), '')", logger: logger)
  }

  /// Runs `body` as the only writer holding `key` (how replicas take turns at writing), in one
  /// transaction on one connection: every `transaction` and `query` of this pool that `body`
  /// makes joins it, and it commits when `body` returns. The lock is a transaction advisory lock,
  /// released by the commit or rollback, and by the server when the connection is lost; a
  /// writer that stops answering mid-write (a frozen process) loses its session, and with it the
  /// lock, after `writerIdleLimit` (`idle_in_transaction_session_timeout`, set for every
  /// connection of the pool; `defaultWriterIdleLimit`), so the other replicas' writes wait that
  /// long at most.
  ///
  /// Whatever `body` keeps in memory about its write must be applied after this returns: until
  /// then the write may still roll back.
  public func withWriterTransaction<T: Sendable>(_ key: Int64, _ body: () async throws -> T) async throws -> T {
    try await transaction { connection in
      try await connection.checkedQuery("SELECT pg_advisory_xact_lock(\(key))", logger: logger)
      let writer = WriterTransaction(pool: ObjectIdentifier(self), connection: connection)
      defer { writer.end() }
      return try await Self.$currentWriter.withValue(writer) { try await body() }
    }
  }

  /// How long a writer's transaction may sit idle between statements before the server ends its
  /// session: far above any write's own pauses (milliseconds), far below the hours a lost
  /// client's TCP connection may take to time out.
  public static let defaultWriterIdleLimit: Duration = .seconds(30)

  /// The writer transaction the current task runs in (`withWriterTransaction`); child and
  /// unstructured tasks inherit it, so it is ended, and ignored, once the transaction is over.
  @TaskLocal private static var currentWriter: WriterTransaction?

  /// The current task's writer connection on this pool, if it runs inside one.
  private var writerConnection: PostgresConnection? {
    guard let writer = Self.currentWriter, writer.pool == ObjectIdentifier(self) else { return nil }
    return writer.connection
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
    let newer: SchemaNewerThanBinary? = try await transaction { connection in
      try await connection.checkedQuery("SELECT pg_advisory_xact_lock(\(Self.migrationLock))", logger: logger)
      try await connection.checkedQuery(
        "CREATE TABLE IF NOT EXISTS schema_migrations (service TEXT NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (service, version))",
        logger: logger)
      var applied = 0
      for try await version in try await connection.checkedQuery(
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
          try await connection.checkedQuery(PostgresQuery(unsafeSQL: statement), logger: logger)
        }
        try await connection.checkedQuery("INSERT INTO schema_migrations (service, version) VALUES (\(service), \(version))", logger: logger)
      }
      return nil
    }
    // Thrown here, not in the transaction, so callers see it as it is and not wrapped.
    if let newer { throw newer }
  }

  /// The advisory-lock key every service's migrations take (any constant both sides agree on).
  private static let migrationLock: Int64 = 0x7072_6976_6163_7921
}

/// One `withWriterTransaction` while it runs.
private final class WriterTransaction: Sendable {
  let pool: ObjectIdentifier
  private let live: Mutex<PostgresConnection?>

  init(pool: ObjectIdentifier, connection: PostgresConnection) {
    self.pool = pool
    self.live = Mutex(connection)
  }

  /// Its connection, until the transaction is over (then back in the pool, someone else's).
  var connection: PostgresConnection? { live.withLock { $0 } }

  func end() { live.withLock { $0 = nil } }
}
