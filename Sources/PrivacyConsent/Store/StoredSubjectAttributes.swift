import PrivacyKit

/// A subject's attributes as both stores keep them: one JSON text (`StoredJSON`, keys sorted).
enum StoredSubjectAttributes {
  static func encoded(_ attributes: [String: String]) throws -> String {
    try StoredJSON.encode(attributes)
  }

  /// The attributes of a stored text; none for no row. A text no code wrote is tampering.
  static func decoded(_ text: String?) throws -> [String: String] {
    guard let text else { return [:] }
    guard let attributes = try? StoredJSON.decode([String: String].self, from: text) else {
      throw LedgerCorruption(sequence: 0, column: "subject_attributes.attributes")
    }
    return attributes
  }
}
