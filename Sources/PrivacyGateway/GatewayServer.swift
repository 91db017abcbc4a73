public import Foundation
public import Logging
public import PrivacyKit
import PrivacyProtocol

/// Configuration of the gateway: the common settings plus the backends' addresses, the policy,
/// the API keys, the JWT trust and the backend deadline.
public struct GatewayConfiguration: Sendable {
  public var service: ServiceConfiguration
  /// `CONSENT_SERVICE_ADDR`, `VAULT_SERVICE_ADDR`, `RIGHTS_SERVICE_ADDR`, `BLOCKLIST_SERVICE_ADDR`.
  public var backendAddresses: [BackendKind: BackendTarget]
  /// `CONSENT_SERVICE_TLS_NAME`...: the name each backend's certificate carries, where it is not
  /// `BACKEND_TLS_SERVER_NAME` or the address's host.
  public var backendServerNames: [BackendKind: String]
  /// `GATEWAY_POLICY_FILE`; nil for the shipped default policy.
  public var policyFile: String?
  /// `GATEWAY_API_KEYS_FILE`; nil: no API key is accepted.
  public var apiKeysFile: String?
  /// `GATEWAY_JWKS_FILE` with `GATEWAY_JWT_ISSUER` and `GATEWAY_JWT_AUDIENCE`; nil: no JWT is accepted.
  public var jwt: JWTTrust?
  /// `GATEWAY_BACKEND_TIMEOUT_MS` (default 5000).
  public var backendTimeout: Duration
  /// `GATEWAY_WORKFLOW_TIMEOUT_MS` (default 60000): a workflow's deadline when the caller sets none.
  public var workflowTimeout: Duration
  /// `GATEWAY_REQUEST_LEASE_S` (default 15): how long a run's claim on a request lasts unless
  /// renewed (it is, every third of it, while the run goes on).
  public var requestLease: Duration
  /// `GATEWAY_NOTICE_WAIT_MS` (default 15000): how long a workflow waits for its art 19 notices
  /// to be delivered before it leaves the request IN_PROGRESS for a later ExecuteRequest.
  public var noticeWait: Duration
  /// `GATEWAY_NOTICE_FOLLOW_UP_S` (default 60): how often the gateway runs again the requests
  /// left waiting for their art 19 notices.
  public var noticeFollowUp: Duration
  /// `GATEWAY_TEST_CRASH_AFTER_STEP`: test-only fault injection; the gateway exits (status 3)
  /// right after recording the named workflow step DONE. Never set in production.
  public var crashAfterStep: String?
  /// TLS to the backends (`BACKEND_TLS_*`); nil speaks plaintext to them (development).
  public var backendTLS: ClientTLS?
  /// The audit chain's key (`GATEWAY_AUDIT_KEY_FILE`).
  public var auditKey: AuditKey
  /// `AUDIT_CHECKPOINT_EVERY` (default 1000): entries between signed checkpoints.
  public var checkpointEvery: UInt64
  /// `RETENTION_SWEEP_INTERVAL` (default `24h`; `off` disables): how often the gateway runs the
  /// retention sweep on its own.
  public var retentionSweepInterval: Duration?
  /// `GATEWAY_CONSENT_COPY_MAX_STALENESS_MS` (default 5000; 0 turns the copy off): how long ago
  /// the gateway's copy of the consent ledger may last have been caught up and still answer
  /// CheckConsent, CheckConsentBatch and CheckEmailEligibility itself (`ConsentCopy`). The copy
  /// holds every subject's state, as a consent replica does.
  public var consentCopyMaxStaleness: Duration?

  /// `off` (nil), or a whole number with a unit: `90s`, `30m`, `6h`, `1d` (1 second to 366 days).
  static func interval(_ text: String, variable: String) throws(ConfigurationError) -> Duration? {
    if text == "off" { return nil }
    let units: [Character: Int64] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
    guard let unit = text.last.flatMap({ units[$0] }), let count = Int64(text.dropLast()), count > 0, count * unit <= 366 * 86_400 else {
      throw .malformed(variable, "must be off or a number with s, m, h or d (for example 24h), got \"\(text)\"")
    }
    return .seconds(count * unit)
  }

  public struct JWTTrust: Sendable {
    public var jwksFile: String
    public var issuer: String
    public var audience: String
  }

  public init(service: ServiceConfiguration, environment: EnvironmentReader) throws(ConfigurationError) {
    self.service = service
    var addresses: [BackendKind: BackendTarget] = [:]
    for kind in BackendKind.allCases {
      guard let text = environment.string(kind.addressVariable) else { continue }
      guard let address = BackendTarget(text) else {
        throw .malformed(
          kind.addressVariable, "must be host:port, replicas as ip:port,ip:port (one IP family), or dns:///name:port, got \"\(text)\"")
      }
      addresses[kind] = address
    }
    self.backendAddresses = addresses
    var names: [BackendKind: String] = [:]
    for kind in BackendKind.allCases { names[kind] = environment.string(kind.serverNameVariable) }
    self.backendServerNames = names
    self.policyFile = environment.string("GATEWAY_POLICY_FILE")
    self.apiKeysFile = environment.string("GATEWAY_API_KEYS_FILE")
    if let jwks = environment.string("GATEWAY_JWKS_FILE") {
      guard let issuer = environment.string("GATEWAY_JWT_ISSUER") else {
        throw .malformed("GATEWAY_JWT_ISSUER", "is required with GATEWAY_JWKS_FILE")
      }
      guard let audience = environment.string("GATEWAY_JWT_AUDIENCE") else {
        throw .malformed("GATEWAY_JWT_AUDIENCE", "is required with GATEWAY_JWKS_FILE")
      }
      self.jwt = JWTTrust(jwksFile: jwks, issuer: issuer, audience: audience)
    } else {
      for variable in ["GATEWAY_JWT_ISSUER", "GATEWAY_JWT_AUDIENCE"] where environment.string(variable) != nil {
        throw .malformed(variable, "is set without GATEWAY_JWKS_FILE")
      }
      self.jwt = nil
    }
    let milliseconds = try environment.int("GATEWAY_BACKEND_TIMEOUT_MS", range: 1...600_000) ?? 5000
    self.backendTimeout = .milliseconds(milliseconds)
    let workflowMilliseconds = try environment.int("GATEWAY_WORKFLOW_TIMEOUT_MS", range: 1...3_600_000) ?? 60_000
    self.workflowTimeout = .milliseconds(workflowMilliseconds)
    self.requestLease = .seconds(try environment.int("GATEWAY_REQUEST_LEASE_S", range: 1...3_600) ?? 15)
    self.noticeWait = .milliseconds(try environment.int("GATEWAY_NOTICE_WAIT_MS", range: 0...600_000) ?? 15_000)
    self.noticeFollowUp = .seconds(try environment.int("GATEWAY_NOTICE_FOLLOW_UP_S", range: 1...86_400) ?? 60)
    self.crashAfterStep = environment.string("GATEWAY_TEST_CRASH_AFTER_STEP")
    self.backendTLS = try ClientTLS.backend(environment)
    if backendTLS == nil, let kind = BackendKind.allCases.first(where: { names[$0] != nil }) {
      throw .malformed(kind.serverNameVariable, "is set without BACKEND_TLS_CA_FILE: the backends are reached in plaintext")
    }
    switch service.database {
    case .sqlite(let path):
      self.auditKey = try AuditKey.load(environment, keptBeside: path, allowInsecureDev: service.allowInsecureDev)
    case .postgres:
      self.auditKey = try AuditKey.load(environment, keptBeside: nil, allowInsecureDev: service.allowInsecureDev)
    }
    self.checkpointEvery = UInt64(try environment.int("AUDIT_CHECKPOINT_EVERY", range: 1...10_000_000) ?? Int(AuditLog.defaultCheckpointEvery))
    let copyStaleness = try environment.int("GATEWAY_CONSENT_COPY_MAX_STALENESS_MS", range: 0...600_000) ?? 5000
    if (1..<400).contains(copyStaleness) {
      throw .malformed("GATEWAY_CONSENT_COPY_MAX_STALENESS_MS", "must be 0 (off) or between 400 and 600000, got \(copyStaleness)")
    }
    self.consentCopyMaxStaleness = copyStaleness == 0 ? nil : .milliseconds(copyStaleness)
    self.retentionSweepInterval = try Self.interval(environment.string("RETENTION_SWEEP_INTERVAL") ?? "24h", variable: "RETENTION_SWEEP_INTERVAL")
    if !service.allowInsecureDev && backendTLS?.certificate == nil {
      throw .malformed(
        backendTLS == nil ? "BACKEND_TLS_CA_FILE" : "BACKEND_TLS_CERT_FILE",
        "is required: the backends take only the gateway's certificate (or ALLOW_INSECURE_DEV=1 for a local run in plaintext)")
    }
  }
}

/// The shipped policy and policy loading.
public enum GatewayPolicy {
  /// The default policy file shipped with the gateway (a package resource).
  ///
  /// Looked up next to the executable by hand rather than through `Bundle.module`, whose accessor
  /// stops the process with a fatal error when the bundle is missing; a missing bundle must be a
  /// start-up message naming `GATEWAY_POLICY_FILE` instead.
  public static var defaultPolicyURL: URL? {
    let bundle = "privacy-suite_PrivacyGateway.resources"
    let directories = [Bundle.main.bundleURL, Bundle.main.executableURL?.deletingLastPathComponent()].compactMap { $0 }
    return directories.map { $0.appendingPathComponent(bundle).appendingPathComponent("default-policy.yaml") }
      .first { FileManager.default.isReadableFile(atPath: $0.path) }
  }

  /// Every method a policy may grant.
  public static var knownMethods: Set<String> { RouteTable.servedMethods }

  /// Reads and validates a policy file, or the shipped one when `path` is nil. Any problem is a
  /// configuration error naming `GATEWAY_POLICY_FILE`.
  public static func load(path: String?) throws(ConfigurationError) -> Policy {
    let source: String
    let text: String
    if let path {
      source = path
      guard let contents = try? String(contentsOfFile: path, encoding: .utf8) else {
        throw .malformed("GATEWAY_POLICY_FILE", "names a file that cannot be read: \(path)")
      }
      text = contents
    } else {
      guard let url = defaultPolicyURL, let contents = try? String(contentsOf: url, encoding: .utf8) else {
        throw .malformed("GATEWAY_POLICY_FILE", "is not set and the shipped default policy is missing (its resource bundle must sit next to the executable)")
      }
      source = "the shipped default policy"
      text = contents
    }
    do {
      return try PolicyFile.parse(text, knownMethods: knownMethods)
    } catch {
      throw .malformed("GATEWAY_POLICY_FILE", "(\(source)) \(error)")
    }
  }
}

/// Builds the gateway's server from the environment (what `main.swift` calls).
public func makeGatewayServer(
  service: ServiceConfiguration, environment: EnvironmentReader, logger: Logger, metrics: ServerMetrics? = nil
) async throws -> PrivacyServer {
  try await makeGatewayServer(configuration: GatewayConfiguration(service: service, environment: environment), logger: logger, metrics: metrics)
}

/// Builds the gateway: loads and validates the policy, the API keys and the JWKS (any problem
/// stops start-up with the variable's name), opens the audit log, makes one long-lived client per
/// backend (run with the server, closed after it drains) and serves the four backend services and
/// AdminService. `now` is the clock of audit entries and JWT checks (tests move it).
public func makeGatewayServer(
  configuration: GatewayConfiguration, logger: Logger, metrics: ServerMetrics? = nil,
  now: @escaping @Sendable () -> Date = { Date() }
) async throws -> PrivacyServer {
  let gateway = try await makeGateway(configuration: configuration, logger: logger, now: now)
  var companions = gateway.backends.companions
  companions.append(FinalCheckpoint(audit: gateway.audit))
  if let reactorStore = gateway.reactorStore, configuration.backendAddresses[.consent] != nil {
    companions.append(ConsentReactor(gateway: gateway, store: reactorStore, logger: logger))
  } else {
    logger.warning("CONSENT_SERVICE_ADDR is not set: consent decisions have no consequences in the vault")
  }
  if let copy = gateway.consentCopy {
    companions.append(ConsentFollower(gateway: gateway, copy: copy, logger: logger))
  }
  if let reactorStore = gateway.reactorStore, let interval = configuration.retentionSweepInterval {
    companions.append(RetentionScheduler(gateway: gateway, store: reactorStore, interval: interval, logger: logger))
  }
  if let reactorStore = gateway.reactorStore, configuration.backendAddresses[.rights] != nil {
    companions.append(NoticeFollowUp(gateway: gateway, store: reactorStore, interval: configuration.noticeFollowUp, logger: logger))
  }
  return PrivacyServer(
    configuration: configuration.service,
    services: [RouteTable(gateway: gateway, admin: AdminHandler(gateway: gateway))],
    serviceNames: RouteTable.servedServices,
    synchronousMethods: RouteTable.synchronousMethods(of: gateway),
    authentication: .byServices,
    companions: companions,
    reloading: [configuration.backendTLS?.certificate].compactMap { $0 },
    metrics: metrics,
    logger: logger,
    onDrain: { gateway.closeStreams() }
  )
}

/// The gateway's core, configured (for the server and for tests).
public func makeGateway(
  configuration: GatewayConfiguration, logger: Logger, now: @escaping @Sendable () -> Date = { Date() }
) async throws -> Gateway {
  let policy = try GatewayPolicy.load(path: configuration.policyFile)
  var keys: APIKeyFile?
  if let path = configuration.apiKeysFile {
    do {
      keys = try APIKeyFile(path: path, policy: policy, logger: logger)
    } catch {
      throw ConfigurationError.malformed("GATEWAY_API_KEYS_FILE", "(\(path)) \(error)")
    }
  } else {
    logger.warning("GATEWAY_API_KEYS_FILE is not set: no API key is accepted")
  }
  var jwt: JWTAuthenticator?
  if let trust = configuration.jwt {
    guard let text = try? String(contentsOfFile: trust.jwksFile, encoding: .utf8) else {
      throw ConfigurationError.malformed("GATEWAY_JWKS_FILE", "names a file that cannot be read: \(trust.jwksFile)")
    }
    do {
      jwt = try await JWTAuthenticator(jwks: text, issuer: trust.issuer, audience: trust.audience, now: now)
    } catch {
      throw ConfigurationError.malformed("GATEWAY_JWKS_FILE", "(\(trust.jwksFile)) \(error)")
    }
  }
  let stores: GatewayStores
  switch configuration.service.database {
  case .postgres(let settings): stores = try await .open(postgres: settings, logger: logger)
  case .sqlite(let path): stores = try .open(sqlite: path)
  }
  let audit = try await AuditLog.open(
    store: stores.audit, key: configuration.auditKey, checkpointEvery: configuration.checkpointEvery, now: now, logger: logger)
  if let step = configuration.crashAfterStep {
    logger.warning("GATEWAY_TEST_CRASH_AFTER_STEP is set: test-only fault injection, the gateway exits after recording step \(step) DONE")
  }
  let backends: Backends
  do {
    backends = try Backends(
      addresses: configuration.backendAddresses, tls: configuration.backendTLS, serverNames: configuration.backendServerNames,
      flushCoalescing: configuration.service.flushCoalescing)
  } catch {
    throw ConfigurationError.malformed("BACKEND_TLS_CA_FILE", "and the other BACKEND_TLS_ settings could not make a TLS client: \(error)")
  }
  return Gateway(
    policy: policy, authenticator: Authenticator(keys: keys, jwt: jwt, policy: policy), audit: audit, reactorStore: stores.reactor, backends: backends,
    consentCopy: configuration.consentCopyMaxStaleness.flatMap { staleness in
      backends.consent.ledgerPosition.map { ConsentCopy(maxStaleness: staleness, position: $0) }
    },
    settings: GatewaySettings(
      backendTimeout: configuration.backendTimeout, workflowTimeout: configuration.workflowTimeout,
      requestLease: configuration.requestLease, noticeWait: configuration.noticeWait, internalToken: configuration.service.internalToken, crashAfterStep: configuration.crashAfterStep,
      backendsOverMutualTLS: configuration.backendTLS?.certificate != nil),
    logger: logger)
}
