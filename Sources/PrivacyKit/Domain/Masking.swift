/// How a value is shown when masked (privacy.vault.v1.Mask). Shared by the vault, which masks
/// SENSITIVE values on read, and the gateway, which masks a clear value for a role that may only
/// see it MASKED: one implementation, so both show the exact same forms.
public enum Mask: String, Sendable, CaseIterable, Codable {
  case none
  case last4
  case email
  case full
}

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
