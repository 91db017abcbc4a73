import Foundation
import PrivacyKit
import PrivacyTesting
import Testing

@Suite("PostgreSQL settings")
struct PostgresSettingsTests {
  @Test("a full URL: user, percent-encoded password, host, port, database, sslmode; the pool size beside it")
  func fullURL() throws {
    let settings = try PostgresSettings(
      url: "postgres://privacy:p%40ss%2Fword@db.internal:6432/consent?sslmode=require",
      environment: EnvironmentReader(["DATABASE_POOL_SIZE": "32", "REPLICA_MAX_STALENESS_MS": "750"]))
    #expect(settings.host == "db.internal")
    #expect(settings.port == 6432)
    #expect(settings.username == "privacy")
    #expect(settings.password == "p@ss/word")
    #expect(settings.database == "consent")
    #expect(settings.sslMode == .require)
    #expect(settings.poolSize == 32)
    #expect(settings.maxStaleness == .milliseconds(750))
  }

  @Test("defaults: port 5432, certificate and name verified, a pool of 10, 5 s of staleness; the password from a file")
  func defaults() throws {
    let directory = try TestDirectory()
    defer { directory.remove() }
    try "from-a-file\n".write(toFile: directory.path("password"), atomically: true, encoding: .utf8)
    let settings = try PostgresSettings(
      url: "postgresql://privacy@db/consent", environment: EnvironmentReader(["DATABASE_PASSWORD_FILE": directory.path("password")]))
    #expect(settings.port == 5432)
    #expect(settings.sslMode == .verifyFull)
    #expect(settings.poolSize == PostgresSettings.defaultPoolSize)
    #expect(settings.maxStaleness == .seconds(5))
    #expect(settings.password == "from-a-file")
  }

  @Test("sslmode=disable is taken for this host or a local run only")
  func plaintext() throws {
    for url in ["postgres://p@127.0.0.1/db?sslmode=disable", "postgres://p@localhost/db?sslmode=disable"] {
      #expect(try PostgresSettings(url: url, environment: EnvironmentReader([:])).sslMode == .disable)
    }
    let local = try PostgresSettings(url: "postgres://p@db/db?sslmode=disable", environment: EnvironmentReader(["ALLOW_INSECURE_DEV": "1"]))
    #expect(local.sslMode == .disable)
  }

  @Test("sslrootcert names the CA file verify-full checks the server's certificate against")
  func rootCertificate() throws {
    let directory = try TestDirectory()
    defer { directory.remove() }
    let ca = directory.path("ca.pem")
    try "-----BEGIN CERTIFICATE-----\n".write(toFile: ca, atomically: true, encoding: .utf8)
    let settings = try PostgresSettings(url: "postgres://p@db/db?sslmode=verify-full&sslrootcert=\(ca)", environment: EnvironmentReader([:]))
    #expect(settings.rootCertificate == ca && settings.sslMode == .verifyFull)
    #expect(try PostgresSettings(url: "postgres://p@db/db?sslrootcert=\(ca)", environment: EnvironmentReader([:])).rootCertificate == ca)
    let refusals = [
      ("postgres://p@db/db?sslmode=require&sslrootcert=\(ca)", "sslrootcert is only read with sslmode=verify-full"),
      ("postgres://p@db/db?sslrootcert=\(directory.path("missing.pem"))", "sslrootcert names a file that cannot be read"),
    ]
    for (url, problem) in refusals {
      let error = #expect(throws: ConfigurationError.self) { try PostgresSettings(url: url, environment: EnvironmentReader([:])) }
      #expect(error?.description.contains(problem) == true, "\(error?.description ?? "no error")")
    }
  }

  @Test("malformed URLs are refused by name, and no message repeats the password")
  func refusals() throws {
    let cases: [(String, [String: String], String)] = [
      ("postgres://privacy:secret-pw@/consent", [:], "names no host"),
      ("postgres://db/consent", [:], "names no user"),
      ("postgres://privacy:secret-pw@db", [:], "names no database"),
      ("postgres://privacy:secret-pw@db/consent?sslmode=prefer", [:], "sslmode must be one of disable, require, verify-full"),
      ("postgres://privacy:secret-pw@db/consent?application_name=x", [:], "unknown parameter \"application_name\""),
      ("postgres://privacy:secret-pw@db/consent", ["DATABASE_PASSWORD": "other"], "set one"),
      ("postgres://privacy@db/consent", ["DATABASE_POOL_SIZE": "1"], "DATABASE_POOL_SIZE must be an integer in 2...1000"),
      ("postgres://privacy@db/consent", ["REPLICA_MAX_STALENESS_MS": "50"], "REPLICA_MAX_STALENESS_MS must be an integer in 100...600000"),
      ("postgres://privacy:secret-pw@db.internal/consent?sslmode=disable", [:], "sslmode=disable would send data in the clear"),
    ]
    for (url, environment, problem) in cases {
      let error = #expect(throws: ConfigurationError.self) { try PostgresSettings(url: url, environment: EnvironmentReader(environment)) }
      #expect(error?.description.contains(problem) == true, "\(url): \(error?.description ?? "no error")")
      #expect(error?.description.contains("secret-pw") == false)
    }
  }
}
