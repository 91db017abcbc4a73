import SwiftProtobuf

/// Proto messages as JSON objects with the proto field names (enum values by name, timestamps
/// in RFC 3339), so the bundle's JSON and CSV files speak the same vocabulary as the API.
enum ProtoJSON {
  static func object(_ message: some SwiftProtobuf.Message) -> [String: Any] {
    var options = JSONEncodingOptions()
    options.preserveProtoFieldNames = true
    guard let text = try? message.jsonString(options: options) else { return [:] }
    return StepDetail.object(text)
  }

  /// The proto name of an enum field of `message` (e.g. "LEGAL_BASIS_CONTRACT").
  static func enumName(_ message: some SwiftProtobuf.Message, key: String) -> String {
    object(message)[key] as? String ?? ""
  }
}
