import Foundation
import SwiftProtobuf

/// Text forms of protobuf values for the tables.
enum Format {
  /// A proto enum value without its type prefix, in the `.proto` spelling: `LEGITIMATE_INTERESTS`,
  /// `SERVING`; `-` for the unspecified value.
  static func name(_ value: some SwiftProtobuf.Enum) -> String {
    if value.rawValue == 0 { return "-" }
    return upperSnake(String(describing: value))
  }

  /// `legitimateInterests` → `LEGITIMATE_INTERESTS`, `last4` → `LAST4`.
  static func upperSnake(_ caseName: String) -> String {
    var result = ""
    for character in caseName {
      if character.isUppercase, !result.isEmpty { result.append("_") }
      result.append(contentsOf: character.uppercased())
    }
    return result
  }

  /// An instant in UTC, to the second (RFC 3339); empty when unset.
  static func time(_ timestamp: Google_Protobuf_Timestamp, isSet: Bool = true) -> String {
    guard isSet, timestamp.seconds != 0 || timestamp.nanos != 0 else { return "" }
    return timestamp.date.formatted(.iso8601)
  }

  static func yesNo(_ value: Bool) -> String { value ? "yes" : "no" }

  static func list(_ values: [String]) -> String { values.joined(separator: ", ") }

  /// A duration in milliseconds, e.g. `1.4 ms`.
  static func milliseconds(_ duration: Google_Protobuf_Duration) -> String {
    let value = Double(duration.seconds) * 1000 + Double(duration.nanos) / 1_000_000
    return String(format: "%.1f ms", value)
  }
}
