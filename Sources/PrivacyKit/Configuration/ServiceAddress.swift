public import GRPCNIOTransportHTTP2

/// A `host:port` address of a service (`CONSENT_SERVICE_ADDR` and friends, CLI flags).
/// IPv6 hosts are written in brackets: `[::1]:50051`.
public struct ServiceAddress: Sendable, Equatable, CustomStringConvertible {
  public var host: String
  public var port: Int

  public init(host: String, port: Int) {
    self.host = host
    self.port = port
  }

  /// Parses `host:port`; nil when malformed.
  public init?(_ text: String) {
    let hostPart: Substring
    let portPart: Substring
    if text.hasPrefix("[") {
      guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
      hostPart = text[text.index(after: text.startIndex)..<close]
      portPart = text[text.index(close, offsetBy: 2)...]
    } else {
      guard let colon = text.lastIndex(of: ":") else { return nil }
      hostPart = text[..<colon]
      portPart = text[text.index(after: colon)...]
    }
    guard !hostPart.isEmpty, let port = Int(portPart), (1...65535).contains(port) else { return nil }
    self.init(host: String(hostPart), port: port)
  }

  /// The address as a client transport target (a literal IP, or a name resolved by DNS).
  public var target: any ResolvableTarget {
    if IPAddress.isIPv6(host) { return .ipv6(address: host, port: port) }
    if IPAddress.isIPv4(host) { return .ipv4(address: host, port: port) }
    return .dns(host: host, port: port)
  }

  public var description: String {
    host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
  }
}
