import Foundation
import PrivacyKit
import PrivacyTesting
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
