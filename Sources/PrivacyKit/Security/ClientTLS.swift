public import GRPCNIOTransportHTTP2

/// TLS for a client's connections: which CA vouches for the server, which name its certificate
/// must carry, and, for mutual TLS, the certificate the client presents (re-read while running).
public struct ClientTLS: Sendable {
  /// PEM certificates of the CA that vouches for the server; nil trusts the system's store.
  public var caFile: String?
  /// The name verified in the server's certificate (and sent as SNI and `:authority`) instead of
  /// the address's host; for addresses given as IPs whose certificates name hosts.
  public var serverName: String?
  /// The client's own certificate (mutual TLS); nil presents none.
  public var certificate: ReloadingCertificate?

  public init(caFile: String?, serverName: String? = nil, certificate: ReloadingCertificate? = nil) {
    self.caFile = caFile
    self.serverName = serverName
    self.certificate = certificate
  }

  /// The gateway's TLS to its backends: `BACKEND_TLS_CA_FILE`, `BACKEND_TLS_SERVER_NAME`,
  /// `BACKEND_TLS_CERT_FILE` and `BACKEND_TLS_KEY_FILE` (both or neither); nil when none is set,
  /// for plaintext backends (development).
  public static func backend(_ env: EnvironmentReader) throws(ConfigurationError) -> ClientTLS? {
    let ca = env.string("BACKEND_TLS_CA_FILE")
    let name = env.string("BACKEND_TLS_SERVER_NAME")
    let certificateFile = env.string("BACKEND_TLS_CERT_FILE")
    let keyFile = env.string("BACKEND_TLS_KEY_FILE")
    guard ca != nil || name != nil || certificateFile != nil || keyFile != nil else { return nil }
    var certificate: ReloadingCertificate?
    switch (certificateFile, keyFile) {
    case (let certificateFile?, let keyFile?):
      certificate = try ReloadingCertificate(
        certificateFile: certificateFile, keyFile: keyFile, interval: try ReloadingCertificate.interval(env),
        certificateVariable: "BACKEND_TLS_CERT_FILE", keyVariable: "BACKEND_TLS_KEY_FILE")
    case (nil, nil):
      certificate = nil
    case (nil, _):
      throw .malformed("BACKEND_TLS_CERT_FILE", "is required with BACKEND_TLS_KEY_FILE")
    case (_, nil):
      throw .malformed("BACKEND_TLS_KEY_FILE", "is required with BACKEND_TLS_CERT_FILE")
    }
    return ClientTLS(caFile: ca, serverName: name, certificate: certificate)
  }

  /// The transport security for grpc-swift's client transport: the server's certificate is
  /// verified, chain and name.
  public func transportSecurity() throws -> HTTP2ClientTransport.Posix.TransportSecurity {
    let caFile = self.caFile
    let trust: (inout HTTP2ClientTransport.Posix.TransportSecurity.TLS) -> Void = { tls in
      tls.serverCertificateVerification = .fullVerification
      if let caFile { tls.trustRoots = .certificates([.file(path: caFile, format: .pem)]) }
    }
    guard let certificate else { return .tls(configure: trust) }
    return try .mTLS(certificateReloader: certificate.reloader, configure: trust)
  }

  /// Applies the server name to a client transport's configuration.
  public func configure(_ config: inout HTTP2ClientTransport.Posix.Config) {
    if let serverName { config.http2.authority = serverName }
  }
}
