import Foundation
import PrivacyKit
import PrivacyTesting
import Synchronization
import Testing

@Suite("PostgreSQL pool: a database that cannot be opened stops start-up with what was wrong")
struct PostgresPoolTests {
  private func problem(opening url: String) async -> ConfigurationError? {
    do {
      let settings = try PostgresSettings(url: url, environment: EnvironmentReader([:]))
      _ = try await PostgresPool.open(settings, service: "test", migrations: [], logger: silentLogger)
      return nil
    } catch {
      return error as? ConfigurationError
    }
  }

  @Test("nothing listening: DATABASE_URL named with the host and port, the password never")
  func unreachable() async throws {
    let port = closedPort()
    let problem = await problem(opening: "postgres://privacy:hunter2-secret@127.0.0.1:\(port)/consent?sslmode=disable")
    #expect(problem?.variable == "DATABASE_URL")
    #expect(problem?.problem.contains("127.0.0.1:\(port), database consent") == true, "\(problem?.problem ?? "")")
    #expect(problem?.problem.contains("hunter2") == false)
  }

  @Test("a database the server does not have: the server's own words", .enabled(if: PostgresTestDatabase.isAvailable))
  func missingDatabase() async throws {
    let url = try #require(PostgresTestDatabase.clusterURL).replacingOccurrences(of: "/postgres?", with: "/no_such_database?")
    let problem = await problem(opening: url)
    #expect(problem?.variable == "DATABASE_URL")
    #expect(problem?.problem.contains("database \"no_such_database\" does not exist") == true, "\(problem?.problem ?? "")")
  }

  @Test("a wrong password: the server's refusal, without the password", .enabled(if: PostgresTestDatabase.isAvailable))
  func wrongPassword() async throws {
    let clusterURL = try #require(PostgresTestDatabase.clusterURL)
    var wrong = try #require(URLComponents(string: clusterURL))
    wrong.password = "not-the-password-42"
    let problem = await problem(opening: try #require(wrong.string))
    #expect(problem?.variable == "DATABASE_URL")
    #expect(problem?.problem.contains("password authentication failed") == true, "\(problem?.problem ?? "")")
    #expect(problem?.problem.contains("not-the-password-42") == false)
  }
}

/// TLS to PostgreSQL: the test cluster serves a certificate for 127.0.0.1 from a CA of its own.
@Suite("PostgreSQL over TLS", .enabled(if: PostgresTestDatabase.isAvailable && PostgresTestDatabase.testCA != nil))
struct PostgresTLSTests {
  private func url(_ parameters: String) throws -> String {
    try #require(PostgresTestDatabase.clusterURL).replacingOccurrences(of: "sslmode=disable", with: parameters)
  }

  private func open(_ url: String) async throws -> PostgresPool {
    try await PostgresPool.open(try PostgresSettings(url: url, environment: EnvironmentReader([:])), service: "tls-test", migrations: [], logger: silentLogger)
  }

  @Test("verify-full against the CA in sslrootcert opens the database, and the connection is encrypted")
  func verified() async throws {
    let pool = try await open(try url("sslmode=verify-full&sslrootcert=\(try #require(PostgresTestDatabase.testCA))"))
    var encrypted = false
    for try await ssl in try await pool.client.query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", logger: pool.logger)
      .decode(Bool.self)
    {
      encrypted = ssl
    }
    #expect(encrypted)
  }

  @Test("verify-full against the system's trust roots refuses the private CA's certificate, naming DATABASE_URL")
  func unverified() async throws {
    do {
      _ = try await open(try url("sslmode=verify-full"))
      Issue.record("a certificate no trusted CA signed was accepted")
    } catch let error as ConfigurationError {
      #expect(error.variable == "DATABASE_URL")
    }
  }

  @Test("require encrypts without checking the certificate")
  func required() async throws {
    _ = try await open(try url("sslmode=require"))
  }
}

/// How replicas take turns at writing: one transaction per write, holding the writers' lock.
@Suite("PostgreSQL writer transactions", .enabled(if: PostgresTestDatabase.isAvailable))
struct PostgresWriterTransactionTests {
  private static let writeLock: Int64 = 42

  private func open(_ database: PostgresTestDatabase, writerIdleLimit: Duration = PostgresPool.defaultWriterIdleLimit) async throws -> PostgresPool {
    try await PostgresPool.open(
      try database.settings, service: "writer-test", migrations: [["CREATE TABLE writes (n INTEGER NOT NULL)"]], logger: silentLogger,
      writerIdleLimit: writerIdleLimit)
  }

  private func count(_ url: String) async throws -> Int {
    Int(try #require(try await PostgresTestDatabase.rows(url, "SELECT COUNT(*)::text FROM writes").first?.first ?? nil)) ?? -1
  }

  @Test("the writer's transactions and queries join its one transaction: seen inside, committed with it, rolled back with it")
  func joins() async throws {
    try await PostgresTestDatabase.with { database in
      let pool = try await open(database)
      try await pool.withWriterTransaction(Self.writeLock) {
        try await pool.transaction { connection in _ = try await connection.checkedQuery("INSERT INTO writes VALUES (1)", logger: pool.logger) }
        var seen = 0
        for try await count in try await pool.query("SELECT COUNT(*) FROM writes").decode(Int.self) { seen = count }
        #expect(seen == 1)
        // Not committed yet: another connection does not see it.
        #expect(try await count(database.url) == 0)
      }
      #expect(try await count(database.url) == 1)
      struct Refused: Error {}
      await #expect(throws: Refused.self) {
        try await pool.withWriterTransaction(Self.writeLock) {
          try await pool.transaction { connection in _ = try await connection.checkedQuery("INSERT INTO writes VALUES (2)", logger: pool.logger) }
          throw Refused()
        }
      }
      #expect(try await count(database.url) == 1)
    }
  }

  /// A pool whose sessions end after 1 s idle in a transaction. Its own start-up is such a
  /// transaction: on a loaded machine it can lose its session between two statements, which is the
  /// limit working, not what the test is about; it is then opened again.
  private func openUnderShortLimit(_ database: PostgresTestDatabase) async throws -> PostgresPool {
    for _ in 1..<5 {
      do { return try await open(database, writerIdleLimit: .seconds(1)) } catch is DatabaseConnectionLost {}
    }
    return try await open(database, writerIdleLimit: .seconds(1))
  }

  @Test("a writer that stops answering mid-write loses the lock after the idle limit: the next writer goes on, its write is gone")
  func frozenWriter() async throws {
    try await PostgresTestDatabase.with { database in
      // The other pool first: it makes the table, so the frozen pool's own start-up (a migration
      // transaction, under the same short idle limit) has next to nothing to do.
      let other = try await open(database)
      let frozen = try await openUnderShortLimit(database)
      let (locked, lockHeld) = AsyncStream.makeStream(of: Void.self)
      let woke = Mutex(false)
      let stuck = Task {
        defer { lockHeld.finish() }
        try await frozen.withWriterTransaction(Self.writeLock) {
          try await frozen.transaction { connection in _ = try await connection.checkedQuery("INSERT INTO writes VALUES (1)", logger: frozen.logger) }
          lockHeld.yield()
          // A frozen process, as the server sees it: idle in its transaction, lock held.
          try await Task.sleep(for: .seconds(5))
          woke.withLock { $0 = true }
          try await frozen.transaction { connection in _ = try await connection.checkedQuery("INSERT INTO writes VALUES (2)", logger: frozen.logger) }
        }
      }
      for await _ in locked { break }
      try await other.withWriterTransaction(Self.writeLock) {
        try await other.transaction { connection in _ = try await connection.checkedQuery("INSERT INTO writes VALUES (3)", logger: other.logger) }
      }
      #expect(!woke.withLock { $0 }, "the other writer waited for the frozen one to wake up")
      await #expect(throws: DatabaseConnectionLost.self) { try await stuck.value }
      #expect(try await PostgresTestDatabase.rows(database.url, "SELECT n::text FROM writes") == [["3"]])
    }
  }
}
