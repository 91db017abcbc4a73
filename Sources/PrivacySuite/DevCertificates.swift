public import Foundation
import PrivacyCertificates
public import PrivacyKit

/// Certificates for a local run, under `<data dir>/tls/` (keys 0600): a dev CA, a server
/// certificate per service for 127.0.0.1, ::1 and localhost, and the gateway's client certificate
/// (`spiffe://privacy.local/gateway`), the one identity the backends accept. Made once and reused;
/// made again, CA included, when any is missing or ends within a week. Never use them in
/// production.
public struct DevCertificates: Sendable {
  /// The identity in the gateway's client certificate, and the backends' `TLS_ALLOWED_CLIENTS`.
  public static let gatewayIdentity = "spiffe://privacy.local/gateway"
  static let caName = "dev-ca"
  static let gatewayClient = "gateway-client"

  public let directory: URL
  /// The CA certificate clients trust (`PRIVACY_CA_FILE`).
  public var caFile: String { path("\(Self.caName).pem") }

  public static func ensure(in dataDirectory: URL) throws -> DevCertificates {
    let directory = dataDirectory.appendingPathComponent("tls")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    let certificates = DevCertificates(directory: directory)
    let names = [caName, gatewayClient] + ServiceKind.suite.map(\.executableName)
    let soon = Date().addingTimeInterval(7 * 86_400)
    let current = names.allSatisfy { name in
      FileManager.default.fileExists(atPath: certificates.path("\(name).key"))
        && (CertificateAuthority.expiry(of: certificates.path("\(name).pem")).map { $0 > soon } ?? false)
    }
    if !current {
      let ca = try CertificateAuthority(directory: directory, name: caName, days: 3650)
      for kind in ServiceKind.suite { _ = try ca.server(kind.executableName, days: 365) }
      _ = try ca.client(gatewayIdentity, file: gatewayClient, validFor: -3600...(86_400 * 365))
    }
    return certificates
  }

  /// What `kind` reads: its own certificate; a backend also requires the gateway's client
  /// certificate, and the gateway presents it to the backends.
  public func environment(for kind: ServiceKind) -> [String: String] {
    var environment = ["TLS_CERT_FILE": path("\(kind.executableName).pem"), "TLS_KEY_FILE": path("\(kind.executableName).key")]
    if kind == .gateway {
      environment["BACKEND_TLS_CA_FILE"] = caFile
      environment["BACKEND_TLS_CERT_FILE"] = path("\(Self.gatewayClient).pem")
      environment["BACKEND_TLS_KEY_FILE"] = path("\(Self.gatewayClient).key")
    } else {
      environment["TLS_CLIENT_CA_FILE"] = caFile
      environment["TLS_ALLOWED_CLIENTS"] = Self.gatewayIdentity
    }
    return environment
  }

  /// How the launcher itself reaches `kind` (health checks): trusting the CA and, at a backend,
  /// presenting the gateway's certificate.
  public func client(for kind: ServiceKind) throws -> ClientTLS {
    guard kind != .gateway else { return ClientTLS(caFile: caFile) }
    return ClientTLS(caFile: caFile, certificate: try ReloadingCertificate(
      certificateFile: path("\(Self.gatewayClient).pem"), keyFile: path("\(Self.gatewayClient).key"), interval: .seconds(3600),
      certificateVariable: "gateway client certificate", keyVariable: "key"))
  }

  private func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
}
