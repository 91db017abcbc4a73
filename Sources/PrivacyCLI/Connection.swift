import ArgumentParser
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import PrivacyKit
import PrivacyProtocol

/// TLS or not, and whom to trust: shared by every command that connects.
struct SecurityOptions: ParsableArguments {
  @Option(help: ArgumentHelp("CA certificate (PEM) that vouches for the server (default: $PRIVACY_CA_FILE, else a running privacy-suite's dev CA, else the system's trust store).", valueName: "file"))
  var caFile: String?

  @Flag(help: "Speak plaintext HTTP/2, to a suite started with --plaintext.")
  var plaintext = false

  func validate() throws {
    if plaintext && caFile != nil { throw ValidationError("--plaintext and --ca-file exclude each other") }
  }

  /// TLS trusting `--ca-file`, `PRIVACY_CA_FILE`, the dev CA of the suite in `PRIVACY_SUITE_DIR`
  /// (`SuiteEndpoints`) or the system's store; nil with `--plaintext`.
  func tls(environment: [String: String] = ProcessInfo.processInfo.environment) -> ClientTLS? {
    guard !plaintext else { return nil }
    return ClientTLS(
      caFile: caFile ?? environment["PRIVACY_CA_FILE"].flatMap { $0.isEmpty ? nil : $0 }
        ?? SuiteEndpoints.running(environment: environment)?.caFile)
  }
}

/// Where the gateway is, who the caller is and how long each call may take; shared by every
/// command that talks to the gateway.
///
/// The address and key come from `PRIVACY_GATEWAY_ADDR` and `PRIVACY_API_KEY` unless the flags
/// override them. The variable is the better place for the key: flags are visible in process lists.
struct ConnectionOptions: ParsableArguments {
  @Option(help: ArgumentHelp("Gateway address as host:port (default: $PRIVACY_GATEWAY_ADDR, else the running privacy-suite's in $PRIVACY_SUITE_DIR or ./data, else 127.0.0.1:50050).", valueName: "host:port"))
  var gateway: String?

  @Option(help: ArgumentHelp("API key as <id>.<secret> (default: $PRIVACY_API_KEY).", valueName: "key"))
  var apiKey: String?

  @Option(help: ArgumentHelp("Deadline of each call, in seconds.", valueName: "seconds"))
  var timeout: Double = 10

  @Option(help: "Output format: table or json.")
  var output: OutputFormat = .table

  @OptionGroup var security: SecurityOptions

  static let defaultAddress = "127.0.0.1:50050"

  func validate() throws {
    _ = try address()
    guard timeout > 0, timeout.isFinite else { throw ValidationError("--timeout must be a positive number of seconds") }
    if let apiKey { try Self.checkKeyShape(apiKey, source: "--api-key") }
    _ = try key()
  }

  /// The gateway address from the flag, the environment, the running suite's endpoints file or
  /// the default.
  func address(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ServiceAddress {
    let (text, source): (String, String) =
      if let gateway { (gateway, "--gateway") }
      else if let variable = environment["PRIVACY_GATEWAY_ADDR"], !variable.isEmpty { (variable, "PRIVACY_GATEWAY_ADDR") }
      else if let suite = SuiteEndpoints.running(environment: environment)?.gateway { (suite.address, SuiteEndpoints.fileName) }
      else { (Self.defaultAddress, "the default") }
    guard let address = ServiceAddress(text) else {
      throw ValidationError("not a host:port address: \(text) (from \(source))")
    }
    return address
  }

  /// The API key from the flag or the environment; nil when neither is set (the gateway then
  /// answers UNAUTHENTICATED, which is the honest error to show).
  func key(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String? {
    if let apiKey { return apiKey }
    guard let key = environment["PRIVACY_API_KEY"], !key.isEmpty else { return nil }
    try Self.checkKeyShape(key, source: "PRIVACY_API_KEY")
    return key
  }

  /// Rejects a key that cannot be `<id>.<secret>` without echoing any part of it.
  private static func checkKeyShape(_ key: String, source: String) throws {
    let parts = key.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
    guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty, !key.contains(where: \.isWhitespace) else {
      throw ValidationError("\(source) must have the form <id>.<secret>")
    }
  }

  var printer: Printer { Printer(format: output) }

  /// Opens one client to the gateway for the whole invocation, runs `body` with it, then closes it.
  func withGateway<T: Sendable>(_ body: (Gateway) async throws -> T) async throws -> T {
    let address = try address()
    var metadata: Metadata = [:]
    if let key = try key() { metadata.addString("Bearer \(key)", forKey: "authorization") }
    let tls = security.tls()
    let transport = try HTTP2ClientTransport.Posix(
      target: address.target, transportSecurity: try tls?.transportSecurity() ?? .plaintext, config: .defaults { tls?.configure(&$0) })
    var callOptions = CallOptions.defaults
    callOptions.timeout = .milliseconds(Int64(timeout * 1000))
    let call = callOptions
    return try await withGRPCClient(transport: transport, interceptors: [AuthorizationInterceptor(metadata: metadata)]) { client in
      try await body(Gateway(client: client, call: call))
    }
  }
}

/// The gateway's services, all reached through one client.
struct Gateway: Sendable {
  let client: GRPCClient<HTTP2ClientTransport.Posix>
  /// Options of every call: the deadline.
  let call: CallOptions

  var admin: Privacy_Gateway_V1_AdminService.Client<HTTP2ClientTransport.Posix> { .init(wrapping: client) }
  var consent: Privacy_Consent_V1_ConsentService.Client<HTTP2ClientTransport.Posix> { .init(wrapping: client) }
  var vault: Privacy_Vault_V1_VaultService.Client<HTTP2ClientTransport.Posix> { .init(wrapping: client) }
  var rights: Privacy_Rights_V1_SubjectRightsService.Client<HTTP2ClientTransport.Posix> { .init(wrapping: client) }
  var blocklist: Privacy_Blocklist_V1_BlocklistService.Client<HTTP2ClientTransport.Posix> { .init(wrapping: client) }
}

/// Adds the caller's credentials to every call.
private struct AuthorizationInterceptor: ClientInterceptor {
  let metadata: Metadata

  func intercept<Input: Sendable, Output: Sendable>(
    request: StreamingClientRequest<Input>,
    context: ClientContext,
    next: (StreamingClientRequest<Input>, ClientContext) async throws -> StreamingClientResponse<Output>
  ) async throws -> StreamingClientResponse<Output> {
    var request = request
    request.metadata.add(contentsOf: metadata)
    return try await next(request, context)
  }
}
