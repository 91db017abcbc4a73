import Crypto
public import Foundation

/// Builds the canonical bytes an append-only log entry is hashed over. Every field is written as
/// a tag byte, a 4-byte big-endian length and the UTF-8 bytes, so no two different field lists
/// encode the same way and the encoding never depends on a serializer's whims.
public struct CanonicalEncoder: Sendable {
  public private(set) var bytes: [UInt8] = []

  public init() {}

  public mutating func append(_ value: String) {
    appendLength(value.utf8.count)
    bytes.append(contentsOf: value.utf8)
  }

  public mutating func append(_ value: some FixedWidthInteger) {
    append(String(value))
  }

  public mutating func append(_ value: Bool) {
    append(value ? "1" : "0")
  }

  /// An instant, as whole microseconds since 1970 (what the stores keep).
  public mutating func append(_ value: Date) {
    append(Microseconds(value).value)
  }

  public mutating func append(_ value: [UInt8]) {
    appendField(value)
  }

  /// Lower-case hex SHA-256 of the bytes so far.
  public var sha256Hex: String {
    SHA256.hash(data: bytes).hex
  }

  private mutating func appendField(_ field: [UInt8]) {
    appendLength(field.count)
    bytes.append(contentsOf: field)
  }

  /// A field's separator and its length in 4 bytes, big-endian.
  private mutating func appendLength(_ count: Int) {
    let length = UInt32(count)
    bytes.append(0x1F)
    bytes.append(UInt8(length >> 24))
    bytes.append(UInt8(truncatingIfNeeded: length >> 16))
    bytes.append(UInt8(truncatingIfNeeded: length >> 8))
    bytes.append(UInt8(truncatingIfNeeded: length))
  }
}

/// The link rule shared by every hash-chained log: an entry's hash is SHA-256 over the previous
/// entry's hash and the entry's canonical content.
public enum HashChain {
  /// The `previous hash` of the first entry: 64 zeros.
  public static let genesis = String(repeating: "0", count: 64)

  public static func link(previous: String, content: CanonicalEncoder) -> String {
    var hasher = SHA256()
    hasher.update(data: Data(previous.utf8))
    hasher.update(data: content.bytes)
    return hasher.finalize().hex
  }
}

/// An instant truncated to whole microseconds: the precision every store keeps, so a value read
/// back hashes and compares equal to the value written.
public struct Microseconds: Sendable, Hashable, Comparable {
  public var value: Int64

  public init(_ date: Date) {
    self.value = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
  }

  public init(value: Int64) {
    self.value = value
  }

  public var date: Date { Date(timeIntervalSince1970: Double(value) / 1_000_000) }

  public static func < (lhs: Self, rhs: Self) -> Bool { lhs.value < rhs.value }
}

extension Date {
  /// This instant truncated to whole microseconds (see `Microseconds`).
  public var microsecondPrecision: Date { Microseconds(self).date }
}
