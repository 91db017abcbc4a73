import Foundation

/// How to reach PostgreSQL: `DATABASE_URL=postgres://user[:password]@host[:port]/database[?sslmode=...]`,
/// the password also from `DATABASE_PASSWORD` or `DATABASE_PASSWORD_FILE` (not both, and not with
/// one in the URL), the pool size from `DATABASE_POOL_SIZE` and how stale a replica may get from
/// `REPLICA_MAX_STALENESS_MS`.
///
/// `sslmode` is `verify-full` unless the URL says otherwise: encrypted, with the server's
/// certificate checked against the system's trust roots (or the CA file `sslrootcert` names, as
/// libpq reads it) and its name. `require` encrypts without
/// checking. `disable` sends in the clear, so it is refused unless the database is on this host
/// (a loopback address or `localhost`) or the run is a local one (`ALLOW_INSECURE_DEV=1`).
public struct PostgresSettings: Sendable, Equatable {
  public enum SSLMode: String, Sendable, CaseIterable {
    case disable
    case require
    case verifyFull = "verify-full"
  }

  public var host: String
  public var port: Int
  public var username: String
  public var password: String?
  public var database: String
  public var sslMode: SSLMode
  /// `sslrootcert`: a PEM file of the CA certificates the server's certificate is verified
  /// against, instead of the system's trust roots (a private CA).
  public var rootCertificate: String?
  /// The most connections the service opens.
  public var poolSize: Int
  /// How long a replica may go without hearing from the database before it refuses to answer
  /// from memory (`REPLICA_MAX_STALENESS_MS`).
  public var maxStaleness: Duration

  public static let defaultPoolSize = 10
  public static let defaultMaxStalenessMilliseconds = 5_000

  /// Reads `url` (the text of `DATABASE_URL`) and the variables beside it. No error repeats the
  /// password.
  public init(url text: String, environment: EnvironmentReader) throws(ConfigurationError) {
    guard let url = URLComponents(string: text), ["postgres", "postgresql"].contains(url.scheme) else {
      throw .malformed("DATABASE_URL", "is not a postgres://user@host:port/database URL")
    }
    guard let host = url.host, !host.isEmpty else { throw .malformed("DATABASE_URL", "names no host") }
    guard let username = url.user, !username.isEmpty else { throw .malformed("DATABASE_URL", "names no user") }
    let database = String(url.path.dropFirst())
    guard !database.isEmpty, !database.contains("/") else { throw .malformed("DATABASE_URL", "names no database (postgres://user@host/database)") }
    var sslMode = SSLMode.verifyFull
    var rootCertificate: String?
    for item in url.queryItems ?? [] {
      switch item.name {
      case "sslmode":
        guard let mode = item.value.flatMap(SSLMode.init(rawValue:)) else {
          throw .malformed("DATABASE_URL", "sslmode must be one of \(SSLMode.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        sslMode = mode
      case "sslrootcert":
        guard let path = item.value, !path.isEmpty else { throw .malformed("DATABASE_URL", "sslrootcert must name a PEM file") }
        guard FileManager.default.isReadableFile(atPath: path) else {
          throw .malformed("DATABASE_URL", "sslrootcert names a file that cannot be read: \(path)")
        }
        rootCertificate = path
      default:
        throw .malformed("DATABASE_URL", "has an unknown parameter \"\(item.name)\"; only sslmode and sslrootcert are read")
      }
    }
    if rootCertificate != nil, sslMode != .verifyFull {
      throw .malformed("DATABASE_URL", "sslrootcert is only read with sslmode=verify-full")
    }
    if sslMode == .disable, !Self.isLoopback(host), !(try environment.flag("ALLOW_INSECURE_DEV")) {
      throw .malformed("DATABASE_URL", "sslmode=disable would send data in the clear to another host; use require or verify-full")
    }
    let separatePassword = try environment.secret("DATABASE_PASSWORD")
    if url.password != nil, separatePassword != nil {
      throw .malformed("DATABASE_URL", "holds a password and DATABASE_PASSWORD(_FILE) is set too; set one")
    }
    self.host = host
    self.port = url.port ?? 5432
    self.username = username
    self.password = url.password ?? separatePassword
    self.database = database
    self.sslMode = sslMode
    self.rootCertificate = rootCertificate
    // At least two: a replica's LISTEN holds one connection and a write another (its lock, reads
    // and commit in one transaction); with one the first write waits forever.
    self.poolSize = try environment.int("DATABASE_POOL_SIZE", range: 2...1_000) ?? Self.defaultPoolSize
    self.maxStaleness = .milliseconds(
      try environment.int("REPLICA_MAX_STALENESS_MS", range: 100...600_000) ?? Self.defaultMaxStalenessMilliseconds)
  }

  private static func isLoopback(_ host: String) -> Bool {
    host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.")
  }
}
