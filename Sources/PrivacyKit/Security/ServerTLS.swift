import Foundation
import GRPCNIOTransportHTTP2
import Logging
import NIOCertificateReloading
import NIOCore
public import NIOSSL

/// TLS on a server's port, from `TLS_CERT_FILE` and `TLS_KEY_FILE` (PEM; the certificate file may
/// hold a chain, leaf first), TLS 1.2 or 1.3 with ALPN `h2` only. With `TLS_CLIENT_CA_FILE` every
/// client must present a certificate chaining to that CA (mutual TLS); `TLS_ALLOWED_CLIENTS`
/// (comma-separated DNS or URI SANs, such as `spiffe://privacy.local/gateway`) narrows that to the
/// named identities.
///
/// The certificate and key are re-read every `TLS_RELOAD_INTERVAL_S` (`ReloadingCertificate`); the
/// client CA is read once at start.
public final class ServerTLS: Sendable {
  public let certificate: ReloadingCertificate
  public let clientCAFile: String?
  /// The client identities accepted; empty accepts any certificate the client CA vouches for.
  public let allowedClients: Set<String>
  private let context: NIOSSLContext
  /// The same certificate, key and client CA for the HTTP/1.1 metrics port (ALPN `http/1.1`).
  private let httpContext: NIOSSLContext

  /// Reads the TLS settings; nil when neither `TLS_CERT_FILE` nor `TLS_KEY_FILE` is set. Fails,
  /// naming the variable, on a partial setting or on files that cannot be read as PEM.
  public static func fromEnvironment(_ env: EnvironmentReader) throws(ConfigurationError) -> ServerTLS? {
    let certificate = env.string("TLS_CERT_FILE")
    let key = env.string("TLS_KEY_FILE")
    let clientCA = env.string("TLS_CLIENT_CA_FILE")
    let allowed = env.string("TLS_ALLOWED_CLIENTS").map(Self.identities) ?? []
    guard let certificate, let key else {
      if certificate != nil || key != nil {
        throw .malformed(certificate == nil ? "TLS_CERT_FILE" : "TLS_KEY_FILE", "is required when the other of TLS_CERT_FILE and TLS_KEY_FILE is set")
      }
      if clientCA != nil { throw .malformed("TLS_CLIENT_CA_FILE", "needs TLS_CERT_FILE and TLS_KEY_FILE") }
      if !allowed.isEmpty { throw .malformed("TLS_ALLOWED_CLIENTS", "needs TLS_CLIENT_CA_FILE") }
      return nil
    }
    if !allowed.isEmpty && clientCA == nil { throw .malformed("TLS_ALLOWED_CLIENTS", "needs TLS_CLIENT_CA_FILE") }
    let pair = try ReloadingCertificate(
      certificateFile: certificate, keyFile: key, interval: try ReloadingCertificate.interval(env), certificateVariable: "TLS_CERT_FILE",
      keyVariable: "TLS_KEY_FILE")
    return try ServerTLS(certificate: pair, clientCAFile: clientCA, allowedClients: allowed)
  }

  /// The identities in a comma-separated list, blanks dropped.
  static func identities(_ list: String) -> Set<String> {
    Set(list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
  }

  init(certificate: ReloadingCertificate, clientCAFile: String?, allowedClients: Set<String>) throws(ConfigurationError) {
    self.certificate = certificate
    self.clientCAFile = clientCAFile
    self.allowedClients = allowedClients
    let clientCA: [NIOSSLCertificate]
    do {
      clientCA = try clientCAFile.map { try NIOSSLCertificate.fromPEMFile($0) } ?? []
    } catch {
      throw .malformed("TLS_CLIENT_CA_FILE", "could not be read as PEM certificates: \(error)")
    }
    if clientCAFile != nil && clientCA.isEmpty { throw .malformed("TLS_CLIENT_CA_FILE", "holds no certificate") }
    do {
      func makeContext(_ protocols: [String]) throws -> NIOSSLContext {
        var configuration = try clientCAFile == nil
          ? TLSConfiguration.makeServerConfiguration(certificateReloader: certificate.reloader)
          : TLSConfiguration.makeServerConfigurationWithMTLS(certificateReloader: certificate.reloader, trustRoots: .certificates(clientCA))
        configuration.minimumTLSVersion = .tlsv12
        configuration.applicationProtocols = protocols
        return try NIOSSLContext(configuration: configuration)
      }
      context = try makeContext(["h2"])
      httpContext = try makeContext(["http/1.1"])
    } catch {
      throw .malformed("TLS_CERT_FILE", "could not make a TLS context: \(error)")
    }
  }

  /// HTTPS for browsers (the preference center): the same certificate, key and reloading, ALPN
  /// `http/1.1`, TLS 1.2 or 1.3, no client certificate asked for.
  public func webConfiguration() throws -> TLSConfiguration {
    var configuration = try TLSConfiguration.makeServerConfiguration(certificateReloader: certificate.reloader)
    configuration.minimumTLSVersion = .tlsv12
    configuration.applicationProtocols = ["http/1.1"]
    return configuration
  }

  /// Whether clients must present a certificate (mutual TLS).
  public var requiresClientCertificate: Bool { clientCAFile != nil }

  /// Adds TLS to an accepted connection of the nghttp2 transport, ahead of the HTTP/2 handler.
  func secure(_ channel: any NIOCore.Channel, logger: Logger) throws {
    let pipeline = channel.pipeline.syncOperations
    try pipeline.addHandler(NIOSSLServerHandler(context: context))
    try pipeline.addHandler(PeerCheckHandler(allowedClients: allowedClients, logger: logger))
  }

  /// Adds TLS to a connection of the HTTP/1.1 metrics port, with the same identity check as the
  /// gRPC port.
  func secureHTTP(_ channel: any NIOCore.Channel, logger: Logger) throws {
    let pipeline = channel.pipeline.syncOperations
    try pipeline.addHandler(NIOSSLServerHandler(context: httpContext))
    try pipeline.addHandler(PeerCheckHandler(allowedClients: allowedClients, protocols: PeerCheckHandler.http1, logger: logger))
  }

  /// The nio transport's TLS, the same certificate, key, client CA and reloading.
  func nioSecurity() throws -> HTTP2ServerTransport.Posix.TransportSecurity {
    guard let clientCAFile else { return try .tls(certificateReloader: certificate.reloader) { $0.requireALPN = true } }
    return try .mTLS(certificateReloader: certificate.reloader) { tls in
      tls.requireALPN = true
      tls.trustRoots = .certificates([.file(path: clientCAFile, format: .pem)])
    }
  }

  /// Adds the peer check to a connection of the nio transport, right after its TLS handler.
  func checkPeer(on channel: any NIOCore.Channel, logger: Logger) throws {
    let pipeline = channel.pipeline.syncOperations
    try pipeline.addHandler(PeerCheckHandler(allowedClients: allowedClients, logger: logger), position: .after(pipeline.handler(type: NIOSSLHandler.self)))
  }
}
