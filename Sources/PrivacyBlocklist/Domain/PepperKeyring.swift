import Crypto
public import Foundation

/// An HMAC-SHA256 value: what the blocklist keeps instead of an identifier. Compact (four words)
/// so a large list fits in memory for lookups.
public struct KeyedHash: Sendable, Hashable {
  private let words: (UInt64, UInt64, UInt64, UInt64)

  public init?(bytes: some Collection<UInt8>) {
    guard bytes.count == 32 else { return nil }
    let array = Array(bytes)
    func word(_ index: Int) -> UInt64 {
      array[(index * 8)..<(index * 8 + 8)].reduce(0) { $0 << 8 | UInt64($1) }
    }
    words = (word(0), word(1), word(2), word(3))
  }

  public init?(hex: String) {
    guard hex.utf8.count == 64 else { return nil }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(32)
    var index = hex.startIndex
    while index < hex.endIndex {
      let next = hex.index(index, offsetBy: 2)
      guard let byte = UInt8(hex[index..<next], radix: 16) else { return nil }
      bytes.append(byte)
      index = next
    }
    self.init(bytes: bytes)
  }

  /// Lower-case hex, 64 characters.
  public var hex: String {
    [words.0, words.1, words.2, words.3].map { word in
      let text = String(word, radix: 16)
      return String(repeating: "0", count: 16 - text.count) + text
    }.joined()
  }

  /// The first 8 hex characters: tells entries apart in a listing, useless to recover a value.
  public var prefix: String { String(hex.prefix(8)) }

  public static func == (lhs: KeyedHash, rhs: KeyedHash) -> Bool {
    lhs.words == rhs.words
  }

  public func hash(into hasher: inout Hasher) {
    hasher.combine(words.0)
    hasher.combine(words.1)
    hasher.combine(words.2)
    hasher.combine(words.3)
  }
}

/// One secret pepper with its id (recorded on every entry it hashed).
public struct Pepper: Sendable {
  public let id: String
  let key: SymmetricKey

  /// - Parameter secret: exactly 32 bytes.
  public init(id: String, secret: Data) {
    self.id = id
    self.key = SymmetricKey(data: secret)
  }

  public func hash(_ identifier: NormalizedIdentifier) -> KeyedHash {
    let mac = HMAC<SHA256>.authenticationCode(for: identifier.hashInput, using: key)
    return KeyedHash(bytes: Array(mac))!
  }
}

/// The configured peppers: the first is active (new entries use it); lookups try every one, so
/// entries made before a rotation keep matching while the old pepper stays configured.
public struct PepperKeyring: Sendable {
  public let peppers: [Pepper]

  /// - Precondition: at least one pepper, ids unique.
  public init(_ peppers: [Pepper]) {
    precondition(!peppers.isEmpty, "a keyring needs at least one pepper")
    self.peppers = peppers
  }

  public var active: Pepper { peppers[0] }

  public var ids: [String] { peppers.map(\.id) }

  /// The identifier's hash under every pepper, active first.
  public func hashes(_ identifier: NormalizedIdentifier) -> [(pepperID: String, hash: KeyedHash)] {
    peppers.map { ($0.id, $0.hash(identifier)) }
  }
}
