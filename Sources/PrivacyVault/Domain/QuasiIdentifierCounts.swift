/// The counts behind the k-anonymity check, kept as the data changes so that an erasure reads
/// one row instead of opening every quasi-identifier value in the vault.
///
/// The check asks how many records match the erased record on each of its remaining
/// quasi-identifiers; records holding further quasi-identifiers match too. So every record adds
/// one to each non-empty combination of its counted values (2^q − 1 combinations for q values),
/// and the check reads the count of the erased record's whole combination. Counts are stored
/// under keyed digests (`BlindIndex.combinationDigest`), never with values.
public struct QuasiIdentifierCounts: Sendable, Equatable {
  /// At most this many fields are counted (a record then adds at most 1,023 combinations).
  public static let maximumCountedFields = 10

  /// The counted fields the counts were built for, sorted; counts are rebuilt when they change.
  public var fields: [String]
  /// Combination digest -> number of records holding that combination (zero counts absent).
  public var counts: [[UInt8]: Int]

  public init(fields: [String], counts: [[UInt8]: Int] = [:]) {
    self.fields = fields
    self.counts = counts
  }

  /// The counted fields of a schema (`FieldDefinition.countsForKAnonymity`), sorted.
  public static func countedFields(_ schema: some Sequence<FieldDefinition>) -> [String] {
    schema.filter(\.countsForKAnonymity).map(\.name).sorted()
  }

  /// Every non-empty combination of `values` (field -> value), as digests.
  public static func combinations(of values: [String: String], index: BlindIndex) -> [[UInt8]] {
    let names = values.keys.sorted()
    guard !names.isEmpty else { return [] }
    return (1..<(1 << names.count)).map { mask in
      var combination: [String: String] = [:]
      for (bit, name) in names.enumerated() where mask & (1 << bit) != 0 { combination[name] = values[name] }
      return index.combinationDigest(combination)
    }
  }

  /// The count changes of one record whose counted values go from `before` to `after`.
  public static func changes(before: [String: String], after: [String: String], index: BlindIndex) -> [[UInt8]: Int] {
    guard before != after else { return [:] }
    var changes: [[UInt8]: Int] = [:]
    for digest in combinations(of: before, index: index) { changes[digest, default: 0] -= 1 }
    for digest in combinations(of: after, index: index) { changes[digest, default: 0] += 1 }
    return changes.filter { $0.value != 0 }
  }

  /// Adds one record's counted values.
  public mutating func add(_ values: [String: String], index: BlindIndex) {
    for digest in Self.combinations(of: values, index: index) { counts[digest, default: 0] += 1 }
  }
}
