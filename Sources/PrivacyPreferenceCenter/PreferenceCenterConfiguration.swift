public import Foundation
public import Logging
public import PrivacyKit

/// Configuration of the preference center, from the environment:
/// `PREFERENCE_HOST`/`PREFERENCE_PORT` (default 127.0.0.1:8080; port `0` picks a free one),
/// `PUBLIC_BASE_URL` (where mails point: this server), `PRIVACY_GATEWAY_ADDR` (default
/// 127.0.0.1:50050), `PREFERENCE_GATEWAY_TIMEOUT_MS` (how long one call to the gateway may take,
/// default 10,000), `PREFERENCE_API_KEY_FILE` (the key of the `preference-center` role),
/// `PRIVACY_CA_FILE` (the CA that vouches for the gateway; else the system's trust store),
/// `TLS_CERT_FILE`/`TLS_KEY_FILE` (required unless `ALLOW_INSECURE_DEV=1`, which also lets the
/// page reach a plaintext gateway), `PREFERENCE_STATEMENT_EN`/`_IT` (the controller's statement
/// at the top of the page, per language) and `LOG_LEVEL`.
public struct PreferenceCenterConfiguration: Sendable {
  public var host: String
  public var port: Int
  public var publicBaseURL: String
  public var gateway: ServiceAddress
  /// How long one gateway call may take, waiting for the connection included; the page then
  /// shows its apology.
  public var gatewayTimeout: Duration
  /// The page's API key, `<id>.<secret>`.
  public var apiKey: String
  /// TLS to the gateway; nil speaks plaintext (only with `ALLOW_INSECURE_DEV=1`).
  public var gatewayTLS: ClientTLS?
  /// TLS on the page's port; nil serves plaintext (only with `ALLOW_INSECURE_DEV=1`).
  public var tls: ServerTLS?
  /// The controller's statement by language code; English is the fallback.
  public var statements: [String: String]
  public var logLevel: Logger.Level

  public init(environment: [String: String]) throws(ConfigurationError) {
    let env = EnvironmentReader(environment)
    host = env.string("PREFERENCE_HOST") ?? "127.0.0.1"
    port = try env.int("PREFERENCE_PORT", range: 0...65535) ?? 8080
    let base = env.string("PUBLIC_BASE_URL") ?? "http://\(host):\(port)"
    guard let url = URL(string: base), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
      throw .malformed("PUBLIC_BASE_URL", "must be an http or https URL, got \"\(base)\"")
    }
    publicBaseURL = base.hasSuffix("/") ? String(base.dropLast()) : base
    gateway = try env.gatewayAddress()
    gatewayTimeout = .milliseconds(try env.int("PREFERENCE_GATEWAY_TIMEOUT_MS", range: 100...600_000) ?? 10_000)
    guard let key = try env.secret("PREFERENCE_API_KEY") else {
      throw .malformed("PREFERENCE_API_KEY_FILE", "is required: the file holding the API key of the preference-center role")
    }
    guard key.split(separator: ".", omittingEmptySubsequences: false).count == 2, !key.hasPrefix("."), !key.hasSuffix(".") else {
      throw .malformed("PREFERENCE_API_KEY_FILE", "must hold an API key of the form <id>.<secret>")
    }
    apiKey = key
    let insecure = try env.flag("ALLOW_INSECURE_DEV")
    tls = try ServerTLS.fromEnvironment(env)
    if tls == nil && !insecure {
      throw .malformed("TLS_CERT_FILE", "and TLS_KEY_FILE are required: the page is served over HTTPS only (or ALLOW_INSECURE_DEV=1 for a local run)")
    }
    gatewayTLS = try env.gatewayTLS()
    var statements: [String: String] = [:]
    for language in Catalogue.languages {
      statements[language] = env.string("PREFERENCE_STATEMENT_\(language.uppercased())")
    }
    self.statements = statements
    logLevel = try env.logLevel()
  }
}
