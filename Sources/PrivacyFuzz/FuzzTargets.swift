import Foundation
import PrivacyBlocklist
import PrivacyGateway
import PrivacyKit
import PrivacyWire

/// The parsers that read what callers and operators send, each as a fuzz target: any input may be
/// refused, none may crash or hang. libFuzzer drives them in a build with `-sanitize=fuzzer`
/// (`scripts/fuzz`); the plain build replays saved inputs through the same functions.
public enum FuzzTargets {
  public static let all: [String: @Sendable ([UInt8]) -> Void] = [
    "validate": validate,
    "page-token": pageToken,
    "policy": policy,
    "api-keys": apiKeys,
    "normalizer": normalizer,
    "request-head": requestHead,
  ]

  /// The request field checks every service applies.
  static func validate(_ bytes: [UInt8]) {
    let text = String(decoding: bytes, as: UTF8.self)
    _ = try? Validate.subjectID(text)
    _ = try? Validate.slug(text, field: "f")
    _ = try? Validate.fieldName(text, field: "f")
    _ = try? Validate.emailAddress(text, field: "f")
    _ = try? Validate.ipAddress(text, field: "f")
    _ = try? Validate.requiredText(text, field: "f", maxLength: 64)
    _ = try? Validate.messageIDs(text.split(separator: "\n").map(String.init))
    _ = GRPCTimeout.isWellFormed(text)
    _ = text.clipped
  }

  /// Page tokens come back from clients, so they may be forged: the size is the first four bytes.
  static func pageToken(_ bytes: [UInt8]) {
    guard bytes.count >= 4 else { return }
    let size = bytes.prefix(4).withUnsafeBytes { Int32(bigEndian: $0.loadUnaligned(as: Int32.self)) }
    let token = String(decoding: bytes.dropFirst(4), as: UTF8.self)
    guard let page = try? PageRequest(size: size, token: token, scope: "events||") else { return }
    _ = try? page.numericCursor(UInt64.self)
    _ = try? page.numericCursor(Int32.self)
    _ = page.fetchLimit
  }

  /// The role policy file an operator writes.
  static func policy(_ bytes: [UInt8]) {
    _ = try? PolicyFile.parse(String(decoding: bytes, as: UTF8.self), knownMethods: GatewayPolicy.knownMethods)
  }

  /// The API-keys file, read against the shipped policy.
  static func apiKeys(_ bytes: [UInt8]) {
    guard let policy = shippedPolicy else { return }
    _ = try? APIKeyring.parse(String(decoding: bytes, as: UTF8.self), policy: policy)
  }

  private static let shippedPolicy: Policy? = try? GatewayPolicy.load(path: nil)

  /// Identifier normalization before blocklist hashing: the first byte picks the kind.
  static func normalizer(_ bytes: [UInt8]) {
    guard let first = bytes.first else { return }
    let kinds: [IdentifierKind] = [.email, .phone, .nationalID, .custom]
    let value = String(decoding: bytes.dropFirst(), as: UTF8.self)
    for country in ["49", nil] {
      _ = try? Normalizer(defaultCountryCode: country).normalize(value, kind: kinds[Int(first) % kinds.count])
    }
  }

  /// A request's headers (lines of `name: value`) and body (after an empty line), as the
  /// transport reads them: the verdict on the headers, then the body deframed in small chunks.
  static func requestHead(_ bytes: [UInt8]) {
    let split = bytes.firstRange(of: [10, 10])
    let headerBytes = split.map { bytes[..<$0.lowerBound] } ?? bytes[...]
    var head = RequestHead(maxBytes: 16_384)
    for line in headerBytes.split(separator: 10) {
      let colon = line.firstIndex(of: UInt8(ascii: ":"), after: line.startIndex) ?? line.endIndex
      Array(line[..<colon]).withUnsafeBytes { name in
        Array(line[colon...].dropFirst()).withUnsafeBytes { value in head.add(name: name, value: value) }
      }
    }
    _ = head.verdict
    guard let split else { return }
    var deframer = MessageDeframer(maxMessageBytes: 4096)
    for chunk in stride(from: split.upperBound, to: bytes.count, by: 3) {
      Array(bytes[chunk..<min(chunk + 3, bytes.count)]).withUnsafeBytes { deframer.append($0) }
      while let message = try? deframer.next() { _ = message }
    }
  }
}

extension ArraySlice where Element == UInt8 {
  /// The first index of `byte` after `start` (a leading `:` of a pseudo-header is part of the name).
  fileprivate func firstIndex(of byte: UInt8, after start: Index) -> Index? {
    guard start < endIndex else { return nil }
    return self[index(after: start)...].firstIndex(of: byte)
  }
}
