#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// IPv4 and IPv6 literal checks, by the C library's own parser.
public enum IPAddress {
  public static func isValid(_ text: String) -> Bool {
    isIPv4(text) || isIPv6(text)
  }

  public static func isIPv4(_ text: String) -> Bool {
    var address = in_addr()
    return inet_pton(AF_INET, text, &address) == 1
  }

  public static func isIPv6(_ text: String) -> Bool {
    var address = in6_addr()
    return inet_pton(AF_INET6, text, &address) == 1
  }
}
