public import Foundation
public import Logging
public import PrivacyKit

/// Configuration of the mail relay, from the environment:
/// - `SMTP_URL` (required): `smtp://host[:port]` (STARTTLS when offered) or `smtps://host[:port]`;
///   `SMTP_REQUIRE_TLS=1` refuses to send in plaintext; `SMTP_USERNAME` with `SMTP_PASSWORD_FILE`
///   (or `SMTP_PASSWORD`) authenticates with AUTH PLAIN or LOGIN, only ever under TLS;
///   `SMTP_CA_FILE` the CA vouching for the server (else the system's trust store);
///   `SMTP_TIMEOUT_MS` the longest one delivery may take (default 60,000).
/// - `MAIL_FROM` (required): `address` or `Name <address>`.
/// - `MAIL_MAX_ATTEMPTS` (default 8), `MAIL_RETRY_BASE_MS` (the first backoff, doubled per attempt,
///   default 60,000), `MAIL_BATCH_SIZE` (messages leased per outbox and round, default 10),
///   `MAIL_LEASE_SECONDS` (default 300, more than the SMTP timeout), `MAIL_POLL_INTERVAL_MS` (the
///   first pause when nothing is due, doubled while nothing is, up to 30 s; default 2,000).
/// - `NOTIFY_CA_FILE`: the CA vouching for the recipients' art 19 webhook endpoints (else the
///   system's trust store); `NOTIFY_TIMEOUT_MS` the longest one POST may take (default 30,000).
/// - `PRIVACY_GATEWAY_ADDR` (default 127.0.0.1:50050), `MAIL_RELAY_API_KEY_FILE` (or
///   `MAIL_RELAY_API_KEY`; a key of the `service` role), `PRIVACY_CA_FILE` (the CA vouching for the
///   gateway); `ALLOW_INSECURE_DEV=1` lets the relay reach a plaintext gateway. `LOG_LEVEL`.
public struct MailRelayConfiguration: Sendable {
  public var smtp: SMTPServer
  public var webhooks: WebhookClient
  public var settings: MailRelay.Settings
  public var gateway: ServiceAddress
  public var gatewayTLS: ClientTLS?
  public var apiKey: String
  public var logLevel: Logger.Level

  public init(environment: [String: String]) throws(ConfigurationError) {
    let env = EnvironmentReader(environment)
    guard let sender = MailSender(try env.required("MAIL_FROM")) else {
      throw .malformed("MAIL_FROM", "must be an address or Name <address>")
    }
    var credentials: SMTPServer.Credentials?
    if let username = env.string("SMTP_USERNAME") {
      guard let password = try env.secret("SMTP_PASSWORD") else {
        throw .malformed("SMTP_PASSWORD_FILE", "is required with SMTP_USERNAME")
      }
      credentials = SMTPServer.Credentials(username: username, password: password)
    }
    let timeout = try env.int("SMTP_TIMEOUT_MS", range: 1000...600_000) ?? 60_000
    let url = try env.required("SMTP_URL")
    let requireTLS = try env.flag("SMTP_REQUIRE_TLS")
    do {
      smtp = try SMTPServer(
        url: url, requireTLS: requireTLS, credentials: credentials, caFile: env.string("SMTP_CA_FILE"), clientName: sender.domain,
        timeout: .milliseconds(timeout))
    } catch {
      throw .malformed("SMTP_URL", error.description)
    }
    let notifyTimeout = try env.int("NOTIFY_TIMEOUT_MS", range: 1000...600_000) ?? 30_000
    webhooks = WebhookClient(caFile: env.string("NOTIFY_CA_FILE"), timeout: .milliseconds(notifyTimeout))
    let leaseSeconds = try env.int("MAIL_LEASE_SECONDS", range: 1...3600) ?? 300
    guard leaseSeconds * 1000 > max(timeout, notifyTimeout) else {
      throw .malformed("MAIL_LEASE_SECONDS", "must be longer than SMTP_TIMEOUT_MS and NOTIFY_TIMEOUT_MS, or a slow delivery is leased twice")
    }
    settings = MailRelay.Settings(
      sender: sender,
      retry: RetryPolicy(
        maxAttempts: try env.int("MAIL_MAX_ATTEMPTS", range: 1...100) ?? 8,
        base: .milliseconds(try env.int("MAIL_RETRY_BASE_MS", range: 1...86_400_000) ?? 60_000)),
      batchSize: try env.int("MAIL_BATCH_SIZE", range: 1...100) ?? 10, leaseSeconds: leaseSeconds,
      idlePause: .milliseconds(try env.int("MAIL_POLL_INTERVAL_MS", range: 10...600_000) ?? 2000))
    gateway = try env.gatewayAddress()
    guard let key = try env.secret("MAIL_RELAY_API_KEY") else {
      throw .malformed("MAIL_RELAY_API_KEY_FILE", "is required: the file holding an API key of the service role")
    }
    apiKey = key
    gatewayTLS = try env.gatewayTLS()
    logLevel = try env.logLevel()
  }
}
