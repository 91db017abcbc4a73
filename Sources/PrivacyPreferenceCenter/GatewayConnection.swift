import GRPCCore
import GRPCNIOTransportHTTP2
import GRPCProtobuf
import PrivacyKit
import PrivacyProtocol
import SwiftProtobuf

/// A generated message the page can send or receive.
typealias SwiftProtobufMessage = SwiftProtobuf.Message & Sendable

/// The page's one connection to the gateway, under the preference-center role's API key. Every
/// call about a subject carries the link's token (`x-preference-token`): the gateway binds the
/// call to the link's subject and refuses any other, so the page never decides whose data it
/// shows or changes.
struct GatewayConnection: Sendable {
  let client: GRPCClient<HTTP2ClientTransport.Posix>
  private let apiKey: String
  /// How long one call may take; the page answers within it or shows the error page.
  private let callTimeout: Duration

  init(address: ServiceAddress, tls: ClientTLS?, apiKey: String, callTimeout: Duration) throws {
    let config = HTTP2ClientTransport.Posix.Config.defaults { config in
      config.backoff = .init(initial: .milliseconds(100), max: .seconds(2), multiplier: 1.6, jitter: 0.2)
      tls?.configure(&config)
    }
    client = GRPCClient(
      transport: try HTTP2ClientTransport.Posix(
        target: address.target, transportSecurity: try tls?.transportSecurity() ?? .plaintext, config: config))
    self.apiKey = apiKey
    self.callTimeout = callTimeout
  }

  /// A link token or a confirmation token; each call carries what it needs.
  enum Credential: Sendable {
    /// The token of the link the page was opened with.
    case link(String)
    /// A call that carries its own single-use token in its request (a confirmation).
    case none
  }

  /// The subject the link opens the page of (the gateway refuses a link that opens nothing).
  func subject(ofLink token: String) async throws -> String {
    let link: Privacy_Consent_V1_ResolvePreferenceLinkResponse = try await call(
      Privacy_Consent_V1_ConsentService.Method.ResolvePreferenceLink.descriptor,
      Privacy_Consent_V1_ResolvePreferenceLinkRequest.with { $0.token = token }, as: .link(token))
    return link.subjectID
  }

  func call<Input: SwiftProtobuf.Message & Sendable, Output: SwiftProtobuf.Message & Sendable>(
    _ method: MethodDescriptor, _ message: Input, as credential: Credential
  ) async throws -> Output {
    var metadata: Metadata = ["authorization": .string("Bearer \(apiKey)")]
    if case .link(let token) = credential { metadata.addString(token, forKey: "x-preference-token") }
    var options = CallOptions.defaults
    // Waits for a connection within the timeout: the first view after a start (or a gateway
    // restart) must not fail just because the connection is still being made.
    options.timeout = callTimeout
    return try await client.unary(
      request: ClientRequest(message: message, metadata: metadata), descriptor: method,
      serializer: ProtobufSerializer<Input>(), deserializer: ProtobufDeserializer<Output>(), options: options
    ) { try $0.message }
  }
}
