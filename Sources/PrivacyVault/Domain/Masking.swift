/// The exact masked forms of the contract (vault.proto, enum Mask).
public enum Masking {
  /// What FULL shows, whatever the value (the length is not revealed).
  public static let full = "********"

  public static func apply(_ mask: Mask, to value: String) -> String {
    switch mask {
    case .none:
      return value
    case .full:
      return full
    case .last4:
      guard value.count > 4 else { return full }
      return "****" + value.suffix(4)
    case .email:
      let parts = value.split(separator: "@", omittingEmptySubsequences: false)
      guard parts.count == 2, let first = parts[0].first, !parts[1].isEmpty else { return full }
      return "\(first)***@\(parts[1])"
    }
  }
}
