public import GRPCNIOTransportHTTP2
public import PrivacyKit

/// Where a backend's replicas are (`CONSENT_SERVICE_ADDR` and the other backend addresses):
/// one `host:port`; a list of replicas by IP address, `ip:port,ip:port` (all IPv4 or all IPv6);
/// or `dns:///name:port`, a name whose DNS records list the replicas (a Kubernetes headless
/// Service). A plain `name:port` is resolved by DNS the same way. Calls are spread round-robin
/// over the replicas that are reachable.
public struct BackendTarget: Sendable, Equatable, CustomStringConvertible {
  public var addresses: [ServiceAddress]

  public init(_ address: ServiceAddress) {
    self.addresses = [address]
  }

  /// Parses one of the three forms; nil when malformed.
  public init?(_ text: String) {
    var text = Substring(text)
    if text.hasPrefix("dns:///") { text = text.dropFirst("dns:///".count) }
    let addresses = text.split(separator: ",", omittingEmptySubsequences: false).map {
      ServiceAddress(String($0.trimmingCharacters(in: .whitespaces)))
    }
    guard let first = addresses.first, let first, addresses.allSatisfy({ $0 != nil }) else { return nil }
    let all = addresses.compactMap { $0 }
    if all.count > 1 {
      let ipv4 = IPAddress.isIPv4(first.host)
      guard all.allSatisfy({ ipv4 ? IPAddress.isIPv4($0.host) : IPAddress.isIPv6($0.host) }) else { return nil }
    }
    self.addresses = all
  }

  /// The target the client transport resolves: the one address (a name through DNS), or every
  /// address of the list.
  public var target: any ResolvableTarget {
    guard addresses.count > 1 else { return addresses[0].target }
    let pairs = addresses.map { (host: $0.host, port: $0.port) }
    return IPAddress.isIPv4(addresses[0].host) ? .ipv4(pairs: pairs) : .ipv6(pairs: pairs)
  }

  public var description: String { addresses.map(\.description).joined(separator: ",") }
}
