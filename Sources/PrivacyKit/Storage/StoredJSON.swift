public import Foundation

/// The JSON the stores keep in text columns (a request's body, an erasure outcome): keys sorted,
/// dates as whole microseconds since 1970, so SQLite and PostgreSQL hold the same text and a
/// value reads back equal to what was written.
public enum StoredJSON {
  public static func encode(_ value: some Encodable) throws -> String {
    String(decoding: try encoder.encode(value), as: UTF8.self)
  }

  public static func decode<T: Decodable>(_ type: T.Type, from text: String) throws -> T {
    try decoder.decode(type, from: Data(text.utf8))
  }

  private static let encoder: JSONEncoder = {
    let encoder = JSONEncoder()
    encoder.dateEncodingStrategy = .custom { date, encoder in
      var container = encoder.singleValueContainer()
      try container.encode(Microseconds(date).value)
    }
    encoder.outputFormatting = .sortedKeys
    return encoder
  }()

  private static let decoder: JSONDecoder = {
    let decoder = JSONDecoder()
    decoder.dateDecodingStrategy = .custom { decoder in
      Microseconds(value: try decoder.singleValueContainer().decode(Int64.self)).date
    }
    return decoder
  }()
}
