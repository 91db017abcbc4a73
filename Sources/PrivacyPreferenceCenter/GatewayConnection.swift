import GRPCCore
import GRPCNIOTransportHTTP2
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
  let gateway: GatewayClient
  var client: GRPCClient<HTTP2ClientTransport.Posix> { gateway.client }

  init(address: ServiceAddress, tls: ClientTLS?, apiKey: String, callTimeout: Duration) throws {
    gateway = try GatewayClient(address: address, tls: tls, apiKey: apiKey, callTimeout: callTimeout)
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
    var metadata: Metadata = [:]
    if case .link(let token) = credential { metadata.addString(token, forKey: "x-preference-token") }
    return try await gateway.call(method, message, metadata: metadata)
  }
}
