import PrivacyKit

/// Applies a generalization rule to a quasi-identifier value. Returns nil when the rule cannot
/// parse the value (the value is then erased instead).
public enum Generalization {
  public static func apply(_ rule: GeneralizationRule, to value: String) -> String? {
    switch rule {
    case .keepPrefix(let n):
      return String(value.prefix(n)) + String(repeating: "*", count: max(0, value.count - n))
    case .yearOnly:
      return year(of: value)
    case .bucketWidth(let width):
      return bucket(value, width: width)
    }
  }

  /// The year of `YYYY-MM-DD`, `YYYY-MM` or an RFC 3339 date-time (`YYYY-MM-DDThh:mm:ss...`).
  private static func year(of value: String) -> String? {
    let text = value.trimmingWhitespace
    let bytes = Array(text.utf8)
    func digits(_ range: Range<Int>) -> Int? {
      guard range.upperBound <= bytes.count else { return nil }
      var result = 0
      for byte in bytes[range] {
        guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
        result = result * 10 + Int(byte - UInt8(ascii: "0"))
      }
      return result
    }
    guard bytes.count >= 7, digits(0..<4) != nil, bytes[4] == UInt8(ascii: "-"),
      let month = digits(5..<7), (1...12).contains(month)
    else { return nil }
    if bytes.count > 7 {
      guard bytes.count >= 10, bytes[7] == UInt8(ascii: "-"), let day = digits(8..<10), (1...31).contains(day) else {
        return nil
      }
      if bytes.count > 10 {
        // An RFC 3339 date-time: a `T` (or `t`, or a space) and a time must follow.
        guard [UInt8(ascii: "T"), UInt8(ascii: "t"), UInt8(ascii: " ")].contains(bytes[10]), bytes.count >= 16,
          digits(11..<13) != nil, bytes[13] == UInt8(ascii: ":"), digits(14..<16) != nil
        else { return nil }
      }
    }
    return String(text.prefix(4))
  }

  /// `[lo,hi)` with `lo` the largest multiple of `width` not above the number.
  private static func bucket(_ value: String, width: Int64) -> String? {
    let text = value.trimmingWhitespace
    let lower: Int64
    if let integer = Int64(text) {
      let (truncated, remainder) = integer.quotientAndRemainder(dividingBy: width)
      let quotient = remainder < 0 ? truncated - 1 : truncated
      let (product, overflow) = quotient.multipliedReportingOverflow(by: width)
      guard !overflow else { return nil }
      lower = product
    } else {
      guard isDecimal(text), let number = Double(text), number.isFinite else { return nil }
      let floored = (number / Double(width)).rounded(.down) * Double(width)
      guard let exact = Int64(exactly: floored) else { return nil }
      lower = exact
    }
    let (upper, overflow) = lower.addingReportingOverflow(width)
    guard !overflow else { return nil }
    return "[\(lower),\(upper))"
  }

  /// Plain decimal notation only (`-12.5`), not `inf`, `nan`, hex or exponents.
  private static func isDecimal(_ text: String) -> Bool {
    var body = Substring(text)
    if body.first == "-" || body.first == "+" { body.removeFirst() }
    let parts = body.split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count <= 2, !parts[0].isEmpty else { return false }
    return parts.allSatisfy { !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isNumber } }
  }
}
