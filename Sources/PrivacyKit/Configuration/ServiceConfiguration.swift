public import Logging
import NIOCore

/// The five executables and their defaults (DESIGN.md, configuration table).
public enum ServiceKind: String, Sendable, CaseIterable {
  case gateway
  case consent
  case vault
  case rights = "subject-rights"
  case blocklist
  /// The interop-server: gRPC's interop TestService on the production transport, for stock
  /// interop clients. Not part of a running suite.
  case interop

  /// The five executables of a running suite (what the launcher starts and `privacyctl health` probes).
  public static let suite: [ServiceKind] = [.gateway, .consent, .vault, .rights, .blocklist]

  /// The services only the gateway may reach (mutual TLS outside a local run).
  public var isBackend: Bool { [.consent, .vault, .rights, .blocklist].contains(self) }

  public var defaultPort: Int {
    switch self {
    case .gateway: 50050
    case .consent: 50051
    case .vault: 50052
    case .rights: 50053
    case .blocklist: 50054
    case .interop: 50070
    }
  }

  /// The health-only port the launcher gives it (`HEALTH_PORT`), and where `privacyctl health`
  /// looks by default: the gRPC port plus 1000.
  public var defaultHealthPort: Int { defaultPort + 1000 }

  /// The executable's name, also used as the default database file name.
  public var executableName: String {
    switch self {
    case .gateway: "gateway"
    case .interop: "interop-server"
    default: "\(rawValue)-service"
    }
  }

  /// Logger label, `privacy.<service>`.
  public var loggerLabel: String { "privacy.\(rawValue)" }
}

/// Settings every service reads: where to listen, where its data lives, the internal credential,
/// logging and metrics.
public struct ServiceConfiguration: Sendable {
  public var kind: ServiceKind
  /// IP address to bind (`GRPC_HOST`).
  public var host: String
  /// Port to bind; 0 picks a free one (`GRPC_PORT`).
  public var port: Int
  /// Where the service's data lives (`DATABASE_URL`).
  public var database: DatabaseURL
  /// The credential callers must present in `x-internal-token` when set. With mutual TLS the
  /// gateway's certificate is what opens a backend; the token is a second check, and the only
  /// one in a plaintext local run.
  public var internalToken: String?
  /// `ALLOW_INSECURE_DEV=1`: a local run may serve plaintext (and a backend may take any client).
  /// Without it every port needs TLS, and a backend mutual TLS.
  public var allowInsecureDev: Bool
  public var logLevel: Logger.Level
  /// Port of the Prometheus `/metrics` endpoint; nil leaves metrics off.
  public var metricsPort: Int?
  /// Batch small writes into fewer flushes (`GRPC_FLUSH_COALESCING`, default off). On gains
  /// about 9% throughput under many concurrent streams but adds up to 0.1 ms to every answer at
  /// one request in flight (see Benchmarks/); the hot path is latency-bound, so off by default.
  public var flushCoalescing: Bool
  /// A connection without a stream for this long is closed (`GRPC_IDLE_TIMEOUT_S`, default 300).
  public var idleTimeout: Duration
  /// At most this many connections are open at once; more are closed as they are accepted
  /// (`GRPC_MAX_CONNECTIONS`, default 10,000).
  public var maxConnections: Int
  /// A connection that has not opened its first stream this long after it was accepted is closed
  /// (`GRPC_HANDSHAKE_TIMEOUT_S`, default 10).
  public var handshakeTimeout: Duration
  /// The server transport (`GRPC_TRANSPORT`: `nghttp2`, the default, or `nio`).
  public var transport: TransportKind
  /// Event-loop threads of the nghttp2 transport (`GRPC_EVENT_LOOPS`, default the core count).
  public var eventLoops: Int
  /// TLS on the port (`TLS_CERT_FILE` and the other `TLS_` variables); nil serves plaintext.
  public var tls: ServerTLS?
  /// A second, plaintext port serving only `grpc.health.v1.Health` (`HEALTH_PORT`), for probes
  /// that cannot present a client certificate; 0 binds a free one.
  public var healthPort: Int?

  /// Shortest internal token accepted, so a guessable value cannot slip through.
  public static let minimumTokenLength = 16

  public init(kind: ServiceKind, environment: [String: String]) throws(ConfigurationError) {
    let env = EnvironmentReader(environment)
    self.kind = kind
    self.host = try Self.host(env)
    self.port = try env.int("GRPC_PORT", range: 0...65535) ?? kind.defaultPort
    self.database = try DatabaseURL(parsing: env.string("DATABASE_URL") ?? "sqlite://./data/\(kind.executableName).sqlite", environment: env)
    self.allowInsecureDev = try env.flag("ALLOW_INSECURE_DEV")
    let token = try env.secret("INTERNAL_TOKEN")
    if let token, token.count < Self.minimumTokenLength {
      throw .malformed("INTERNAL_TOKEN", "must be at least \(Self.minimumTokenLength) characters")
    }
    self.internalToken = token
    self.logLevel = try env.logLevel()
    self.metricsPort = try env.int("METRICS_PORT", range: 1...65535)
    self.flushCoalescing = try env.flag("GRPC_FLUSH_COALESCING")
    self.idleTimeout = .seconds(try env.int("GRPC_IDLE_TIMEOUT_S", range: 1...86_400) ?? 300)
    self.maxConnections = try env.int("GRPC_MAX_CONNECTIONS", range: 1...1_000_000) ?? 10_000
    self.handshakeTimeout = .seconds(try env.int("GRPC_HANDSHAKE_TIMEOUT_S", range: 1...300) ?? 10)
    self.transport = try Self.transport(env)
    self.eventLoops = try env.int("GRPC_EVENT_LOOPS", range: 1...256) ?? System.coreCount
    self.tls = try ServerTLS.fromEnvironment(env)
    if !allowInsecureDev {
      guard let tls else {
        throw .malformed("TLS_CERT_FILE", "and TLS_KEY_FILE are required: no port serves plaintext outside a local run (ALLOW_INSECURE_DEV=1)")
      }
      if kind.isBackend && !tls.requiresClientCertificate {
        throw .malformed(
          "TLS_CLIENT_CA_FILE", "is required on a backend, so that only the gateway's certificate reaches it (or ALLOW_INSECURE_DEV=1 for a local run)")
      }
    }
    self.healthPort = try env.int("HEALTH_PORT", range: 0...65535)
  }

  private static func host(_ env: EnvironmentReader) throws(ConfigurationError) -> String {
    let host = env.string("GRPC_HOST") ?? "127.0.0.1"
    guard IPAddress.isValid(host) else {
      throw .malformed("GRPC_HOST", "must be an IPv4 or IPv6 address, got \"\(host)\"")
    }
    return host
  }

  private static func transport(_ env: EnvironmentReader) throws(ConfigurationError) -> TransportKind {
    guard let text = env.string("GRPC_TRANSPORT") else { return .nghttp2 }
    guard let kind = TransportKind(rawValue: text.lowercased()) else {
      throw .malformed("GRPC_TRANSPORT", "must be nghttp2 or nio, got \"\(text)\"")
    }
    return kind
  }

}
