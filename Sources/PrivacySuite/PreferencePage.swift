import Foundation
import PrivacyKit

#if canImport(Glibc)
  import Glibc
#endif

/// Where the launcher serves the preference center. Its URL must be known before the backends
/// start, since the consent and rights services put it in every link they mail
/// (`PUBLIC_BASE_URL`): so its port is chosen up front (8080, or a free one with ephemeral ports)
/// and kept across restarts.
struct PreferencePage {
  static let executableName = "preference-center"
  static let defaultPort = 8080

  let port: Int
  /// `PUBLIC_BASE_URL`: the caller's own when set, else this page.
  let publicBaseURL: String

  init(ephemeralPorts: Bool, plaintext: Bool, inherited: [String: String]) throws {
    port = ephemeralPorts ? try Self.freePort() : Self.defaultPort
    publicBaseURL = inherited["PUBLIC_BASE_URL"].flatMap { $0.isEmpty ? nil : $0 } ?? "\(plaintext ? "http" : "https")://127.0.0.1:\(port)"
  }

  /// The page's own variables: its port, the gateway, its key and TLS (the gateway's dev
  /// certificate, which names 127.0.0.1 and localhost).
  func environment(gateway: ServiceAddress, keyFile: String, certificates: DevCertificates?) -> [String: String] {
    var environment = [
      "PREFERENCE_HOST": "127.0.0.1", "PREFERENCE_PORT": String(port), "PUBLIC_BASE_URL": publicBaseURL,
      "PRIVACY_GATEWAY_ADDR": gateway.description, "PREFERENCE_API_KEY_FILE": keyFile,
    ]
    if let certificates {
      let gatewayTLS = certificates.environment(for: .gateway)
      environment["TLS_CERT_FILE"] = gatewayTLS["TLS_CERT_FILE"]
      environment["TLS_KEY_FILE"] = gatewayTLS["TLS_KEY_FILE"]
      environment["PRIVACY_CA_FILE"] = certificates.caFile
    }
    return environment
  }

  /// A port free on 127.0.0.1 now: bound and released at once.
  static func freePort() throws -> Int {
    let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard socket >= 0 else { throw SuiteError.noFreePort }
    defer { close(socket) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
      pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) == 0 && getsockname(socket, $0, &length) == 0 }
    }
    guard bound else { throw SuiteError.noFreePort }
    return Int(UInt16(bigEndian: address.sin_port))
  }
}
