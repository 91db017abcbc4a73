import Foundation
import GRPCNIOTransportHTTP2
public import Logging
import NIOCertificateReloading
import NIOCore
import ServiceLifecycle
import NIOSSL

/// TLS on a server's port, from `TLS_CERT_FILE` and `TLS_KEY_FILE` (PEM; the certificate file may
/// hold a chain, leaf first), TLS 1.2 or 1.3 with ALPN `h2` only. With `TLS_CLIENT_CA_FILE` every
/// client must present a certificate chaining to that CA (mutual TLS); `TLS_ALLOWED_CLIENTS`
/// (comma-separated DNS or URI SANs, such as `spiffe://privacy.local/gateway`) narrows that to the
/// named identities.
///
/// The certificate and key are re-read every `TLS_RELOAD_INTERVAL_S` (default 60) while the server
/// runs (`reloader`), so a renewed pair is served without a restart; a pair that fails to load is
/// logged and the last good one kept. The client CA is read once at start.
public final class ServerTLS: Sendable {
  public let certificateFile: String
  public let keyFile: String
  public let clientCAFile: String?
  /// The client identities accepted; empty accepts any certificate the client CA vouches for.
  public let allowedClients: Set<String>
  /// Holds the certificate and key last read; `keepReloading` refreshes it.
  let reloader: TimedCertificateReloader
  let reloadInterval: Duration
  private let clientCA: [NIOSSLCertificate]
  private let context: NIOSSLContext

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
    let interval = try env.int("TLS_RELOAD_INTERVAL_S", range: 1...86_400) ?? 60
    return try ServerTLS(
      certificateFile: certificate, keyFile: key, clientCAFile: clientCA, allowedClients: allowed, reloadInterval: .seconds(interval))
  }

  /// The identities in a comma-separated list, blanks dropped.
  static func identities(_ list: String) -> Set<String> {
    Set(list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
  }

  init(
    certificateFile: String, keyFile: String, clientCAFile: String?, allowedClients: Set<String>, reloadInterval: Duration
  ) throws(ConfigurationError) {
    self.certificateFile = certificateFile
    self.keyFile = keyFile
    self.clientCAFile = clientCAFile
    self.allowedClients = allowedClients
    self.reloadInterval = reloadInterval
    do {
      reloader = try TimedCertificateReloader.makeReloaderValidatingSources(
        refreshInterval: reloadInterval,
        certificateSource: .init(location: .file(path: certificateFile), format: .pem),
        privateKeySource: .init(location: .file(path: keyFile), format: .pem))
    } catch {
      throw .malformed("TLS_CERT_FILE", "and TLS_KEY_FILE could not be loaded as a PEM certificate chain and its private key: \(error)")
    }
    do {
      clientCA = try clientCAFile.map { try NIOSSLCertificate.fromPEMFile($0) } ?? []
    } catch {
      throw .malformed("TLS_CLIENT_CA_FILE", "could not be read as PEM certificates: \(error)")
    }
    if clientCAFile != nil && clientCA.isEmpty { throw .malformed("TLS_CLIENT_CA_FILE", "holds no certificate") }
    do {
      var configuration = try clientCAFile == nil
        ? TLSConfiguration.makeServerConfiguration(certificateReloader: reloader)
        : TLSConfiguration.makeServerConfigurationWithMTLS(certificateReloader: reloader, trustRoots: .certificates(clientCA))
      configuration.minimumTLSVersion = .tlsv12
      configuration.applicationProtocols = ["h2"]
      context = try NIOSSLContext(configuration: configuration)
    } catch {
      throw .malformed("TLS_CERT_FILE", "could not make a TLS context: \(error)")
    }
  }

  /// Re-reads the certificate and key every `reloadInterval` until the server shuts down
  /// gracefully (or the task is cancelled). A pair that fails to load is logged and the last good
  /// one kept serving.
  func keepReloading(logger: Logger) async {
    try? await cancelWhenGracefulShutdown {
      while true {
        try await Task.sleep(for: self.reloadInterval)
        do {
          try self.reloader.reload()
        } catch {
          logger.warning(
            "TLS certificate reload failed; the last good certificate stays in use",
            metadata: ["tls.certificate.file": "\(self.certificateFile)", "error": "\(error)"])
        }
      }
    }
  }

  /// Whether clients must present a certificate.
  public var requiresClientCertificate: Bool { clientCAFile != nil }

  /// Adds TLS to an accepted connection of the nghttp2 transport, ahead of the HTTP/2 handler.
  func secure(_ channel: any NIOCore.Channel, logger: Logger) throws {
    let pipeline = channel.pipeline.syncOperations
    try pipeline.addHandler(NIOSSLServerHandler(context: context))
    try pipeline.addHandler(PeerCheckHandler(allowedClients: allowedClients, logger: logger))
  }

  /// The nio transport's TLS, the same certificate, key, client CA and reloading.
  func nioSecurity() throws -> HTTP2ServerTransport.Posix.TransportSecurity {
    guard let clientCAFile else { return try .tls(certificateReloader: reloader) { $0.requireALPN = true } }
    return try .mTLS(certificateReloader: reloader) { tls in
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
