import PrivacyKit

/// One field of a record as a read shows it: the definition, the entry, and the value shown
/// (clear or masked).
public struct FieldView: Sendable, Equatable {
  public var definition: FieldDefinition
  public var entry: FieldEntry
  /// The value as shown; empty when the field holds none.
  public var shownValue: String
  public var masked: Bool
}

/// A record as a read shows it.
public struct RecordView: Sendable, Equatable {
  public var state: RecordState
  /// Ordered by field name.
  public var fields: [FieldView]
}

extension OpenRecord {
  /// The record as GetRecord (`masking`: SENSITIVE values masked) or ExportRecord (everything
  /// clear) shows it. Entries of fields missing from `schema` are left out.
  public func view(schema: [String: FieldDefinition], masking: Bool) -> RecordView {
    let fields = sortedEntries.compactMap { entry -> FieldView? in
      guard let definition = schema[entry.field] else { return nil }
      guard let value = entry.value else {
        return FieldView(definition: definition, entry: entry, shownValue: "", masked: false)
      }
      if masking && definition.isMaskedOnRead {
        return FieldView(definition: definition, entry: entry, shownValue: Masking.apply(definition.mask, to: value), masked: true)
      }
      return FieldView(definition: definition, entry: entry, shownValue: value, masked: false)
    }
    return RecordView(state: state, fields: fields)
  }
}
