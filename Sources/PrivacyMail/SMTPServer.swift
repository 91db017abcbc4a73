public import Foundation
import NIOCore

/// Where and how mail is delivered. `url` is `smtp://host[:port]` (default port 25; STARTTLS
/// whenever the server offers it) or `smtps://host[:port]` (default 465; TLS from the first byte).
public struct SMTPServer: Sendable {
  public var host: String
  public var port: Int
  /// TLS from the first byte (`smtps://`), rather than STARTTLS.
  public var implicitTLS: Bool
  /// Refuse to send over a connection that stays in plaintext (`SMTP_REQUIRE_TLS=1`). Credentials
  /// are never sent in plaintext, whatever this says.
  public var requireTLS: Bool
  public var credentials: Credentials?
  /// A PEM file of the CA that vouches for the server; nil trusts the system's store.
  public var caFile: String?
  /// The name this client gives in EHLO.
  public var clientName: String
  /// The longest a whole delivery may take, connecting included.
  public var timeout: Duration

  public struct Credentials: Sendable {
    public var username: String
    public var password: String

    public init(username: String, password: String) {
      self.username = username
      self.password = password
    }
  }

  public init(
    url: String, requireTLS: Bool = false, credentials: Credentials? = nil, caFile: String? = nil, clientName: String = "localhost",
    timeout: Duration = .seconds(60)
  ) throws(MalformedSMTPURL) {
    guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(), ["smtp", "smtps"].contains(scheme),
      let host = components.host, !host.isEmpty, components.path.isEmpty || components.path == "/", components.user == nil
    else { throw MalformedSMTPURL(url: url) }
    implicitTLS = scheme == "smtps"
    self.host = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
    port = components.port ?? (implicitTLS ? 465 : 25)
    guard (1...65535).contains(port) else { throw MalformedSMTPURL(url: url) }
    self.requireTLS = requireTLS
    self.credentials = credentials
    self.caFile = caFile
    self.clientName = clientName
    self.timeout = timeout
  }

  /// Whether `host` is an IP address: TLS then checks the address against the certificate, since
  /// an address cannot be sent as a server name (SNI).
  var hostIsAddress: Bool { (try? SocketAddress(ipAddress: host, port: 0)) != nil }
}

/// `SMTP_URL` is not `smtp://host[:port]` or `smtps://host[:port]`.
public struct MalformedSMTPURL: Error, CustomStringConvertible {
  public let url: String
  public var description: String { "SMTP_URL must be smtp://host[:port] or smtps://host[:port] (no user, path or query)" }
}
