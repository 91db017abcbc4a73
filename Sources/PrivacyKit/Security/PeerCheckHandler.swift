import Logging
import NIOCore
import NIOSSL
import NIOTLS
import X509

/// Sits right after a server connection's TLS handler. When the handshake completes it closes the
/// connection unless ALPN chose one of the port's protocols (HTTP/2 on the gRPC ports) and, with
/// `allowedClients` set, the client certificate names one of them (a DNS or URI SAN); a refused
/// identity is logged with what the certificate named. Nothing the client sends passes before the
/// check has passed, so a refused client never reaches HTTP, let alone a call.
///
/// The certificate's chain itself is checked during the handshake (BoringSSL, against the client
/// CA); a handshake that fails (no certificate, another CA, expired) is logged at debug level only,
/// because anyone can cause one.
final class PeerCheckHandler: ChannelInboundHandler, RemovableChannelHandler {
  typealias InboundIn = ByteBuffer

  /// What a gRPC port speaks: "h2", or "grpc-exp", gRPC's own name for HTTP/2, which the nio
  /// transport also offers.
  static let http2: Set<String?> = ["h2", "grpc-exp"]
  /// What the metrics port speaks: HTTP/1.1, named or (a client that sends no ALPN) not.
  static let http1: Set<String?> = ["http/1.1", nil]

  private let allowedClients: Set<String>
  private let protocols: Set<String?>
  private let logger: Logger
  private var passed = false

  init(allowedClients: Set<String>, protocols: Set<String?> = http2, logger: Logger) {
    self.allowedClients = allowedClients
    self.protocols = protocols
    self.logger = logger
  }

  func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
    guard case TLSUserEvent.handshakeCompleted(let negotiated)? = event as? TLSUserEvent else {
      context.fireUserInboundEventTriggered(event)
      return
    }
    guard protocols.contains(negotiated) else {
      logger.debug("TLS connection refused: the client negotiated no protocol this port speaks", metadata: peer(context))
      context.close(promise: nil)
      return
    }
    if !allowedClients.isEmpty {
      let presented = identities(of: try? context.pipeline.syncOperations.nioSSL_peerCertificate())
      guard presented.contains(where: allowedClients.contains) else {
        var metadata = peer(context)
        metadata["tls.client.identities"] = "\(presented.isEmpty ? "none" : presented.sorted().joined(separator: ",").clipped)"
        logger.warning("TLS connection refused: the client certificate names no identity in TLS_ALLOWED_CLIENTS", metadata: metadata)
        context.close(promise: nil)
        return
      }
    }
    passed = true
    context.fireUserInboundEventTriggered(event)
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    // TLS delivers application data only after the handshake, so this is a refused connection's.
    guard passed else { return }
    context.fireChannelRead(data)
  }

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    if !passed, error is NIOSSLError || error is BoringSSLError {
      logger.debug("TLS handshake failed", metadata: peer(context).merging(["error": "\(error)"]) { $1 })
    }
    context.fireErrorCaught(error)
  }

  private func peer(_ context: ChannelHandlerContext) -> Logger.Metadata {
    ["net.peer": "\(context.remoteAddress.map { "\($0)" } ?? "unknown")"]
  }

  /// The DNS and URI SANs of a certificate.
  private func identities(of certificate: NIOSSLCertificate?) -> [String] {
    guard let certificate, let der = try? certificate.toDERBytes(), let parsed = try? Certificate(derEncoded: der),
      let names = try? parsed.extensions.subjectAlternativeNames
    else { return [] }
    return names.compactMap { name in
      switch name {
      case .dnsName(let dns): dns
      case .uniformResourceIdentifier(let uri): uri
      default: nil
      }
    }
  }
}
