import Crypto
public import Foundation

/// Single-use secrets sent to people (confirmation links). Only the SHA-256 of a token is stored.
public enum SecureToken {
  /// A new token: 256 random bits, base64url without padding (43 characters).
  public static func generate() -> String {
    let key = SymmetricKey(size: .bits256)
    return key.withUnsafeBytes { Data($0) }.base64URLEncoded
  }

  /// The hex SHA-256 of a token, the only form kept at rest.
  public static func hash(_ token: String) -> String {
    SHA256.hash(data: Data(token.utf8)).hex
  }
}

/// Comparison whose time does not depend on where two secrets first differ.
public enum ConstantTime {
  /// Inlinable so that callers in other modules get a version specialized to their byte type.
  @inlinable
  public static func equals(_ lhs: some Collection<UInt8>, _ rhs: some Collection<UInt8>) -> Bool {
    guard lhs.count == rhs.count else { return false }
    var difference: UInt8 = 0
    for (a, b) in zip(lhs, rhs) { difference |= a ^ b }
    return difference == 0
  }

  public static func equals(_ lhs: String, _ rhs: String) -> Bool {
    // Hash first so the comparison length never depends on the secret's length either.
    equals(Array(SHA256.hash(data: Data(lhs.utf8))), Array(SHA256.hash(data: Data(rhs.utf8))))
  }
}

extension Data {
  /// Decodes base64url without padding (RFC 4648 §5); nil for anything else.
  public init?(base64URLEncoded text: some StringProtocol) {
    var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
    guard !base64.contains("=") else { return nil }
    base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
    self.init(base64Encoded: base64)
  }

  /// base64url without padding (RFC 4648 §5).
  public var base64URLEncoded: String {
    base64EncodedString()
      .replacingOccurrences(of: "+", with: "-")
      .replacingOccurrences(of: "/", with: "_")
      .replacingOccurrences(of: "=", with: "")
  }
}

extension Sequence<UInt8> {
  /// Lower-case hex.
  @inlinable
  public var hex: String {
    // Written digit by digit, and inlinable so each caller's sequence is specialized: hashing the
    // chains encodes every hash this way (a String per byte made hex a twentieth of a vault write;
    // the generic loop was 3% of the gateway's core under load).
    func digit(_ value: UInt8) -> UInt8 { value < 10 ? 0x30 + value : 0x57 + value }
    var text: [UInt8] = []
    text.reserveCapacity(underestimatedCount * 2)
    for byte in self {
      text.append(digit(byte >> 4))
      text.append(digit(byte & 0x0f))
    }
    return String(decoding: text, as: UTF8.self)
  }
}
