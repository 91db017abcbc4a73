import Foundation
import PrivacyKit

/// Why an identifier value cannot be normalized. The text describes the problem only: it never
/// quotes the value.
public struct NormalizationFailure: Error, Sendable, Equatable {
  public var problem: String
}

/// Turns identifier values as callers hold them into one canonical form per person, so the same
/// address or number written differently hashes the same. Pure: no I/O, no state.
public struct Normalizer: Sendable {
  /// Longest value accepted, in characters, before normalization.
  public static let maximumLength = 512

  /// Digits of the country calling code national phone numbers get (`BLOCKLIST_DEFAULT_COUNTRY_CODE`).
  public let defaultCountryCode: String?

  public init(defaultCountryCode: String?) {
    self.defaultCountryCode = defaultCountryCode
  }

  public func normalize(_ value: String, kind: IdentifierKind) throws(NormalizationFailure) -> NormalizedIdentifier {
    guard value.count <= Self.maximumLength else {
      throw NormalizationFailure(problem: "\(kind.hashLabel.lowercased()) is longer than \(Self.maximumLength) characters")
    }
    let normalized: String
    switch kind {
    case .email: normalized = try Self.email(value)
    case .phone: normalized = try phone(value)
    case .nationalID: normalized = try Self.nationalID(value)
    case .custom: normalized = try Self.custom(value)
    }
    return NormalizedIdentifier(kind: kind, value: normalized)
  }

  /// Trimmed, Unicode NFC, lower-cased as a whole; one `@`, a non-empty local part, a domain with
  /// a dot and no empty labels, no whitespace or control characters. No provider-specific
  /// rewriting: dots and `+tags` stay.
  static func email(_ value: String) throws(NormalizationFailure) -> String {
    let text = Self.nfc(value.trimmingWhitespace).lowercased()
    guard !text.isEmpty else { throw NormalizationFailure(problem: "email is empty") }
    guard !text.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.properties.generalCategory == .control }) else {
      throw NormalizationFailure(problem: "email contains whitespace or control characters")
    }
    let parts = text.split(separator: "@", omittingEmptySubsequences: false)
    guard parts.count >= 2 else { throw NormalizationFailure(problem: "email has no '@'") }
    guard parts.count == 2 else { throw NormalizationFailure(problem: "email has more than one '@'") }
    guard !parts[0].isEmpty else { throw NormalizationFailure(problem: "email has an empty local part") }
    let labels = parts[1].split(separator: ".", omittingEmptySubsequences: false)
    guard labels.count >= 2 else { throw NormalizationFailure(problem: "email domain has no dot") }
    guard labels.allSatisfy({ !$0.isEmpty }) else { throw NormalizationFailure(problem: "email domain has an empty label") }
    return text
  }

  /// E.164: separators (spaces, dashes, dots, parentheses) removed, a leading `00` turned into
  /// `+`; a `(0)` trunk marker in an international number dropped, except for a country whose
  /// leading 0 is part of the number (`PhoneNumbering`: Italy, San Marino, the Vatican), where it
  /// stays a 0; a national number (no `+`) loses its country's trunk prefix (none for those
  /// countries, `06` for Hungary, `0` for most) and gets the default country code. Result: `+`
  /// and 7-15 digits.
  func phone(_ value: String) throws(NormalizationFailure) -> String {
    var text = value.trimmingWhitespace
    guard !text.isEmpty else { throw NormalizationFailure(problem: "phone is empty") }
    let international = text.hasPrefix("+") || text.hasPrefix("00")
    if international {
      let start = text.hasPrefix("+") ? text.dropFirst() : text.dropFirst(2)
      let code = PhoneNumbering.countryCode(of: Substring(start.filter { $0.isASCII && $0.isNumber }))
      let keepsZero = code.map { PhoneNumbering.trunkPrefix(countryCode: $0).isEmpty } ?? false
      text = text.replacingOccurrences(of: "(0)", with: keepsZero ? "0" : "")
    }
    text.removeAll { $0 == " " || $0 == "-" || $0 == "." || $0 == "(" || $0 == ")" || $0 == "\u{00A0}" || $0 == "\t" }
    if text.hasPrefix("00") { text = "+" + text.dropFirst(2) }
    let isDigit: (Character) -> Bool = { $0.isASCII && $0.isNumber }
    var digits: String
    if text.hasPrefix("+") {
      digits = String(text.dropFirst())
      guard digits.allSatisfy(isDigit) else { throw NormalizationFailure(problem: "phone contains characters other than digits") }
    } else {
      guard text.allSatisfy(isDigit) else { throw NormalizationFailure(problem: "phone contains characters other than digits") }
      guard let defaultCountryCode else {
        throw NormalizationFailure(
          problem: "phone is a national number without a country code and BLOCKLIST_DEFAULT_COUNTRY_CODE is not configured")
      }
      var national = Substring(text)
      let trunk = PhoneNumbering.trunkPrefix(countryCode: defaultCountryCode)
      if !trunk.isEmpty, national.hasPrefix(trunk) { national = national.dropFirst(trunk.count) }
      digits = defaultCountryCode + national
    }
    guard (7...15).contains(digits.count), !digits.hasPrefix("0") else {
      throw NormalizationFailure(problem: "phone is not a valid E.164 number (+ and 7-15 digits)")
    }
    return "+" + digits
  }

  /// Unicode NFC, upper-cased, whitespace and dashes removed; not empty afterwards.
  static func nationalID(_ value: String) throws(NormalizationFailure) -> String {
    var text = Self.nfc(value).uppercased()
    text.removeAll { $0.isWhitespace || $0 == "-" }
    guard !text.isEmpty else { throw NormalizationFailure(problem: "national id is empty") }
    return text
  }

  /// The text in Unicode NFC. ASCII text already is, and skips the costly normalization (most
  /// identifiers are ASCII, and Check normalizes up to 1,000 of them per call).
  static func nfc(_ text: String) -> String {
    text.utf8.allSatisfy { $0 < 0x80 } ? text : text.precomposedStringWithCanonicalMapping
  }

  /// Trimmed, otherwise as given (case-sensitive); not empty.
  static func custom(_ value: String) throws(NormalizationFailure) -> String {
    let text = value.trimmingWhitespace
    guard !text.isEmpty else { throw NormalizationFailure(problem: "custom identifier is empty") }
    return text
  }
}
