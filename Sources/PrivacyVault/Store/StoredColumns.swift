import Foundation
import PrivacyKit

/// How the vault's stores turn domain values into columns and back where it takes more than a
/// cast, shared by SQLite and PostgreSQL so both read and write the same text.
enum StoredColumns {
  /// A field definition from its columns; a column it cannot read names the field.
  static func field(
    name: String, classification: String, specialCategory: String, criminalOffence: Bool, mask: String, encrypted: Bool,
    searchable: Bool, tags: String, generalization: String, description: String, createdAt: Int64, updatedAt: Int64
  ) throws(VaultError) -> FieldDefinition {
    func corrupt(_ column: String) -> VaultError { .storedRecordCorrupt(subjectID: "(schema)", column: "fields.\(column) of \(name)") }
    guard let parsedClassification = Classification(rawValue: classification) else { throw corrupt("classification") }
    guard let parsedMask = Mask(rawValue: mask) else { throw corrupt("mask") }
    let category = SpecialCategory(rawValue: specialCategory)
    guard specialCategory.isEmpty || category != nil else { throw corrupt("special_category") }
    let rule = GeneralizationRule(text: generalization)
    guard generalization.isEmpty || rule != nil else { throw corrupt("generalization") }
    return FieldDefinition(
      name: name, classification: parsedClassification, specialCategory: category, criminalOffence: criminalOffence,
      mask: parsedMask, encrypted: encrypted, searchable: searchable,
      tags: tags.isEmpty ? [] : tags.split(separator: ",").map(String.init), generalization: rule,
      description: description, createdAt: Microseconds(value: createdAt).date, updatedAt: Microseconds(value: updatedAt).date)
  }

  /// The value columns of a stored value: its text when clear, its bytes when sealed, both nil
  /// when it holds none.
  static func content(_ value: StoredValue) -> (plain: String?, sealed: Data?) {
    switch value.content {
    case .plain(let text)?: (text, nil)
    case .sealed(let bytes)?: (nil, Data(bytes))
    case nil: (nil, nil)
    }
  }

  /// The tags column: names joined by commas.
  static func tags(_ field: FieldDefinition) -> String { field.tags.joined(separator: ",") }

  /// The erasure column: the outcome as `StoredJSON`.
  static func erasure(_ outcome: ErasureOutcome?) throws -> String? {
    try outcome.map { try StoredJSON.encode($0) }
  }

  static func erasure(_ text: String?, subjectID: String) throws(VaultError) -> ErasureOutcome? {
    guard let text else { return nil }
    do {
      return try StoredJSON.decode(ErasureOutcome.self, from: text)
    } catch {
      throw VaultError.storedRecordCorrupt(subjectID: subjectID, column: "erasure")
    }
  }

  /// The counted-fields setting: field names joined by commas.
  static let countedFieldsSetting = "quasi_identifier_counted_fields"
}
