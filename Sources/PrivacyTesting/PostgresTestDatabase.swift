import Foundation
import Logging
import PostgresNIO
public import PrivacyKit

/// A database of its own on the test cluster that `scripts/with-postgres` starts (the README's
/// test command runs the suite inside it), made for one test and dropped after it.
public struct PostgresTestDatabase: Sendable {
  /// The cluster's superuser URL, when the tests run beside one.
  public static var clusterURL: String? { ProcessInfo.processInfo.environment["PRIVACY_TEST_POSTGRES_URL"] }

  public static var isAvailable: Bool { clusterURL != nil }

  /// The CA of the cluster's TLS certificate (for 127.0.0.1), when the cluster serves TLS.
  public static var testCA: String? { ProcessInfo.processInfo.environment["PRIVACY_TEST_POSTGRES_CA"] }

  /// `DATABASE_URL` of the test's database.
  public let url: String
  /// The database's name on the cluster.
  public let name: String

  /// Runs `body` with a new, empty database and drops it afterwards.
  public static func with<T: Sendable>(_ body: (PostgresTestDatabase) async throws -> T) async throws -> T {
    guard let clusterURL else { throw NoTestCluster() }
    let database = try await make()
    do {
      let result = try await body(database)
      try await administer(clusterURL, "DROP DATABASE \(database.name) WITH (FORCE)")
      return result
    } catch {
      try? await administer(clusterURL, "DROP DATABASE \(database.name) WITH (FORCE)")
      throw error
    }
  }

  /// A new, empty database that lives as long as the test cluster; its `DATABASE_URL`.
  public static func create() async throws -> String {
    try await make().url
  }

  private static func make() async throws -> PostgresTestDatabase {
    guard let clusterURL else { throw NoTestCluster() }
    let name = "test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
    try await administer(clusterURL, "CREATE DATABASE \(name)")
    return PostgresTestDatabase(url: clusterURL.replacingOccurrences(of: "/postgres?", with: "/\(name)?"), name: name)
  }

  public var settings: PostgresSettings {
    get throws { try PostgresSettings(url: url, environment: EnvironmentReader([:])) }
  }

  /// Runs one statement on a connection of its own (CREATE and DROP DATABASE cannot run in a pool's
  /// transaction).
  public static func administer(_ url: String, _ statement: String) async throws {
    _ = try await rows(url, statement)
  }

  /// Runs one statement on a connection of its own and returns its rows, each column as text
  /// (select them as text: `count::text`). A failure says what the server said.
  public static func rows(_ url: String, _ statement: String) async throws -> [[String?]] {
    let settings = try PostgresSettings(url: url, environment: EnvironmentReader([:]))
    do {
      let connection = try await PostgresConnection.connect(
        configuration: .init(
          host: settings.host, port: settings.port, username: settings.username, password: settings.password,
          database: settings.database, tls: .disable),
        id: 1, logger: Logger(label: "privacy.test.postgres") { _ in SwiftLogNoOpLogHandler() })
      do {
        var rows: [[String?]] = []
        for try await row in try await connection.query(PostgresQuery(unsafeSQL: statement), logger: connection.logger) {
          rows.append(try row.map { cell in try cell.decode(String?.self) })
        }
        try await connection.close()
        return rows
      } catch {
        try? await connection.close()
        throw error
      }
    } catch let error as PSQLError {
      // A test database holds nothing secret: the server's whole answer.
      throw TestDatabaseError(description: String(reflecting: error))
    }
  }
}

/// A statement of a test failed; the server's whole answer.
public struct TestDatabaseError: Error, CustomStringConvertible {
  public var description: String
}

/// The PostgreSQL tests run without the test cluster: run them through `scripts/test` (or
/// `scripts/with-postgres swift test`).
public struct NoTestCluster: Error, CustomStringConvertible {
  public var description: String { "PRIVACY_TEST_POSTGRES_URL is not set: run the tests with scripts/test or scripts/with-postgres" }
}
