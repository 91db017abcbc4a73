public import Foundation
public import Logging
public import PrivacyKit
public import ServiceLifecycle

/// Runs the whole suite on one machine: the four backends, then the gateway pointed at them,
/// each with dev secrets from the data directory, then the preference center in front of the
/// gateway (with the dev key, or `PREFERENCE_API_KEY_FILE` beside the caller's own keys);
/// waits until every one reports SERVING, prints
/// the endpoints and a dev API key for the gateway (unless `GATEWAY_API_KEYS_FILE` names the
/// caller's own keys) and writes the endpoints to `endpoints.json` there for privacyctl, restarts
/// a child that dies, and stops them all on SIGINT or SIGTERM.
public struct SuiteLauncher: Service {
  public struct Options: Sendable {
    /// Where databases and dev secrets live (`./data` by default).
    public var dataDirectory: URL
    /// Where the executables are (next to `privacy-suite` by default).
    public var binDirectory: URL
    /// Bind free ports instead of the default 50050-50054.
    public var ephemeralPorts: Bool
    /// Serve plaintext, with `ALLOW_INSECURE_DEV=1`, instead of TLS and mutual TLS with the dev CA
    /// (for debugging with tools that speak no TLS).
    public var plaintext: Bool

    public init(dataDirectory: URL, binDirectory: URL, ephemeralPorts: Bool, plaintext: Bool = false) {
      self.dataDirectory = dataDirectory
      self.binDirectory = binDirectory
      self.ephemeralPorts = ephemeralPorts
      self.plaintext = plaintext
    }
  }

  private static let backends: [ServiceKind] = [.consent, .vault, .rights, .blocklist]
  /// Variables the launcher sets itself; inherited values would clash with them.
  private static let owned = [
    "GRPC_HOST", "GRPC_PORT", "DATABASE_URL", "INTERNAL_TOKEN", "INTERNAL_TOKEN_FILE", "VAULT_MASTER_KEY",
    "VAULT_MASTER_KEY_FILE", "BLOCKLIST_PEPPER", "BLOCKLIST_PEPPER_FILE", "CONSENT_SERVICE_ADDR", "VAULT_SERVICE_ADDR",
    "RIGHTS_SERVICE_ADDR", "BLOCKLIST_SERVICE_ADDR", "METRICS_PORT", "HEALTH_PORT", "ALLOW_INSECURE_DEV", "TLS_CERT_FILE", "TLS_KEY_FILE",
    "TLS_CLIENT_CA_FILE", "TLS_ALLOWED_CLIENTS", "BACKEND_TLS_CA_FILE", "BACKEND_TLS_CERT_FILE", "BACKEND_TLS_KEY_FILE",
    "BACKEND_TLS_SERVER_NAME", "CONSENT_SERVICE_TLS_NAME", "VAULT_SERVICE_TLS_NAME", "RIGHTS_SERVICE_TLS_NAME",
    "BLOCKLIST_SERVICE_TLS_NAME", "GATEWAY_AUDIT_KEY", "GATEWAY_AUDIT_KEY_FILE", "PREFERENCE_HOST", "PREFERENCE_PORT",
    "RECEIPT_SIGNING_KEY", "RECEIPT_SIGNING_KEY_FILE",
  ]

  private let options: Options
  private let logger: Logger
  private let inherited: [String: String]
  /// Where each service listens once started (for tests).
  public let endpoints = Endpoints()

  public init(options: Options, environment: [String: String], logger: Logger) {
    self.options = options
    self.logger = logger
    self.inherited = environment.filter { !Self.owned.contains($0.key) }
  }

  public func run() async throws {
    let secrets = try DevSecrets.ensure(in: options.dataDirectory)
    let certificates = options.plaintext ? nil : try DevCertificates.ensure(in: options.dataDirectory)
    let page = try PreferencePage(ephemeralPorts: options.ephemeralPorts, plaintext: options.plaintext, inherited: inherited)
    var children: [SuiteChild] = []
    do {
      var addresses: [ServiceKind: ServiceAddress] = [:]
      for kind in Self.backends {
        let links = [ServiceKind.consent, .rights].contains(kind) ? ["PUBLIC_BASE_URL": page.publicBaseURL] : [:]
        let child = try makeChild(kind, secrets: secrets, certificates: certificates, extra: links)
        children.append(child)
        addresses[kind] = try await child.start()
      }
      var gatewayEnvironment = [
        "CONSENT_SERVICE_ADDR": addresses[.consent]!.description, "VAULT_SERVICE_ADDR": addresses[.vault]!.description,
        "RIGHTS_SERVICE_ADDR": addresses[.rights]!.description, "BLOCKLIST_SERVICE_ADDR": addresses[.blocklist]!.description,
      ]
      var devKey: DevAdminKey?
      if inherited["GATEWAY_API_KEYS_FILE"] == nil {
        devKey = try DevAdminKey.generate(in: options.dataDirectory)
        gatewayEnvironment["GATEWAY_API_KEYS_FILE"] = devKey?.keysFile
      }
      let gateway = try makeChild(.gateway, secrets: secrets, certificates: certificates, extra: gatewayEnvironment)
      children.insert(gateway, at: 0)
      addresses[.gateway] = try await gateway.start()

      for kind in [ServiceKind.gateway] + Self.backends {
        try await waitUntilServing(kind.executableName, addresses[kind]!, tls: certificates?.client(for: kind))
      }
      var pageURL: String?
      if let keyFile = devKey?.pageKeyFile ?? inherited["PREFERENCE_API_KEY_FILE"] {
        let child = try makePageChild(page, gateway: addresses[.gateway]!, keyFile: keyFile, certificates: certificates)
        children.insert(child, at: 0)
        _ = try await child.start()
        pageURL = page.publicBaseURL
      }
      var mailServer: ServiceAddress?
      if inherited["SMTP_URL"] != nil, let keyFile = devKey?.mailerKeyFile ?? inherited["MAIL_RELAY_API_KEY_FILE"] {
        let child = try makeRelayChild(gateway: addresses[.gateway]!, keyFile: keyFile, certificates: certificates)
        children.insert(child, at: 0)
        mailServer = try await child.start()
      }
      let processes = Dictionary(uniqueKeysWithValues: children.compactMap { child in child.processIdentifier.map { (child.name, $0) } })
      let written = SuiteEndpoints(
        // The gRPC services privacyctl reaches; the page and the relay are announced, not listed.
        services: children.filter { ![PreferencePage.executableName, SuiteMailRelay.executableName].contains($0.name) }.map { child in
          SuiteEndpoints.Service(name: child.name, address: child.address?.description ?? "", health: child.healthAddress?.description)
        },
        caFile: certificates?.caFile, launcher: getpid())
      try written.write(in: options.dataDirectory)
      endpoints.set(addresses, processes: processes, preferenceCenter: pageURL)
      announce(addresses, processes, pageURL: pageURL, mailServer: mailServer, devKey: devKey, caFile: certificates?.caFile)
    } catch {
      for child in children { await child.stop(grace: .seconds(5)) }
      throw error
    }

    // Keep running until asked to stop, then stop the gateway first and the backends after it.
    try? await gracefulShutdown()
    logger.info("stopping the suite")
    SuiteEndpoints.remove(in: options.dataDirectory)
    for child in children { await child.stop() }
  }

  private func makeChild(_ kind: ServiceKind, secrets: DevSecrets, certificates: DevCertificates?, extra: [String: String]) throws -> SuiteChild {
    let executable = options.binDirectory.appendingPathComponent(kind.executableName)
    guard FileManager.default.isExecutableFile(atPath: executable.path) else {
      throw SuiteError.missingExecutable(executable.path)
    }
    var environment = inherited.merging(extra) { _, new in new }
    environment["GRPC_HOST"] = "127.0.0.1"
    environment["GRPC_PORT"] = options.ephemeralPorts ? "0" : String(kind.defaultPort)
    environment["HEALTH_PORT"] = options.ephemeralPorts ? "0" : String(kind.defaultHealthPort)
    environment["DATABASE_URL"] = "sqlite://" + options.dataDirectory.appendingPathComponent("\(kind.executableName).sqlite").path
    environment["INTERNAL_TOKEN_FILE"] = secrets.internalTokenFile
    if let certificates {
      environment.merge(certificates.environment(for: kind)) { _, new in new }
    } else {
      environment["ALLOW_INSECURE_DEV"] = "1"
    }
    environment["VAULT_MASTER_KEY_FILE"] = secrets.vaultMasterKeyFile
    environment["BLOCKLIST_PEPPER_FILE"] = secrets.blocklistPepperFile
    if kind == .gateway { environment["GATEWAY_AUDIT_KEY_FILE"] = secrets.gatewayAuditKeyFile }
    if kind == .consent { environment["RECEIPT_SIGNING_KEY_FILE"] = secrets.receiptSigningKeyFile }
    return SuiteChild(name: kind.executableName, executable: executable, environment: environment, logger: logger)
  }

  private func makePageChild(_ page: PreferencePage, gateway: ServiceAddress, keyFile: String, certificates: DevCertificates?) throws -> SuiteChild {
    let executable = options.binDirectory.appendingPathComponent(PreferencePage.executableName)
    guard FileManager.default.isExecutableFile(atPath: executable.path) else {
      throw SuiteError.missingExecutable(executable.path)
    }
    var environment = inherited.merging(page.environment(gateway: gateway, keyFile: keyFile, certificates: certificates)) { _, new in new }
    if certificates == nil { environment["ALLOW_INSECURE_DEV"] = "1" }
    return SuiteChild(name: PreferencePage.executableName, executable: executable, environment: environment, logger: logger)
  }

  private func makeRelayChild(gateway: ServiceAddress, keyFile: String, certificates: DevCertificates?) throws -> SuiteChild {
    let executable = options.binDirectory.appendingPathComponent(SuiteMailRelay.executableName)
    guard FileManager.default.isExecutableFile(atPath: executable.path) else {
      throw SuiteError.missingExecutable(executable.path)
    }
    let own = SuiteMailRelay.environment(gateway: gateway, keyFile: keyFile, certificates: certificates, inherited: inherited)
    return SuiteChild(
      name: SuiteMailRelay.executableName, executable: executable, environment: inherited.merging(own) { _, new in new }, logger: logger,
      readyPrefix: SuiteMailRelay.readyPrefix)
  }

  private func waitUntilServing(_ name: String, _ address: ServiceAddress, tls: ClientTLS?) async throws {
    var outcome = HealthProbe.Outcome.notServing
    for _ in 0..<60 {
      outcome = await HealthProbe.check(address, tls: tls)
      if outcome == .serving { return }
      try await Task.sleep(for: .milliseconds(250))
    }
    throw SuiteError.notHealthy(name, outcome)
  }

  private func announce(
    _ addresses: [ServiceKind: ServiceAddress], _ processes: [String: Int32], pageURL: String?, mailServer: ServiceAddress?,
    devKey: DevAdminKey?, caFile: String?
  ) {
    var text = "privacy suite running (data and dev secrets in \(options.dataDirectory.path))\n"
    if let caFile {
      text += "TLS on every port, mutual TLS from the gateway to the backends (dev CA \(caFile))\n"
    } else {
      text += "plaintext: no port speaks TLS (--plaintext)\n"
    }
    for kind in [ServiceKind.gateway] + Self.backends {
      let name = kind.executableName.padding(toLength: 24, withPad: " ", startingAt: 0)
      text += "  \(name)\(addresses[kind]!)  SERVING  pid \(processes[kind.executableName].map(String.init) ?? "?")\n"
    }
    if let pageURL {
      text += "preference center: \(pageURL)\n"
    } else {
      text += "preference center: not started (set PREFERENCE_API_KEY_FILE to a key of the preference-center role)\n"
    }
    if let mailServer {
      text += "mail: delivered over SMTP to \(mailServer) by the mail relay\n"
    } else if inherited["SMTP_URL"] != nil {
      text += "mail: not sent (set MAIL_RELAY_API_KEY_FILE to a key of the service role); it waits in the outboxes: privacyctl outbox list\n"
    } else {
      text += "mail: not sent (set SMTP_URL to deliver it); it waits in the outboxes: privacyctl outbox list\n"
    }
    var exports = "PRIVACY_GATEWAY_ADDR=\(addresses[.gateway]!) \(SuiteEndpoints.directoryVariable)=\(options.dataDirectory.path)"
    if let caFile { exports += " PRIVACY_CA_FILE=\(caFile)" }
    if let devKey {
      text += "dev API keys (admin: role dpo; mailer: role service), new at every start and shown only here:\n"
      exports += " PRIVACY_API_KEY=\(devKey.apiKey) PRIVACY_MAILER_KEY=\(devKey.mailerKey)"
    } else {
      text += "privacyctl reaches the gateway with:\n"
    }
    text += "  export \(exports)\n"
    text += "Press Ctrl-C to stop.\n"
    FileHandle.standardOutput.write(Data(text.utf8))
  }
}

/// Where the suite's services listen and their process ids, once all are up.
public final class Endpoints: Sendable {
  private let ready = AsyncStream.makeStream(of: ([ServiceKind: ServiceAddress], [String: Int32], String?).self)

  func set(_ addresses: [ServiceKind: ServiceAddress], processes: [String: Int32], preferenceCenter: String?) {
    ready.continuation.yield((addresses, processes, preferenceCenter))
    ready.continuation.finish()
  }

  /// Waits until every service serves.
  public func wait() async -> (addresses: [ServiceKind: ServiceAddress], processes: [String: Int32], preferenceCenter: String?)? {
    for await value in ready.stream { return value }
    return nil
  }
}
