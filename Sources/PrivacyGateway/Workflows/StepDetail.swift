import Foundation
import SwiftProtobuf

/// Step details and request outcomes are JSON (no personal data), so a resumed run can read back
/// what an earlier run recorded.
enum StepDetail {
  static func json(_ object: [String: any Sendable]) -> String {
    guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return "{}" }
    return String(decoding: data, as: UTF8.self)
  }

  static func object(_ text: String) -> [String: Any] {
    (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
  }

  static func message<M: SwiftProtobuf.Message>(_ text: String, as type: M.Type = M.self) -> M? {
    var options = JSONDecodingOptions()
    options.ignoreUnknownFields = true
    return try? M(jsonString: text, options: options)
  }

  /// Proto JSON with the proto field names (snake_case), like the hand-written details.
  static func encode(_ message: some SwiftProtobuf.Message) -> String {
    var options = JSONEncodingOptions()
    options.preserveProtoFieldNames = true
    return (try? message.jsonString(options: options)) ?? "{}"
  }
}
