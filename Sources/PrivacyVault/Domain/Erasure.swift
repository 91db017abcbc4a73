public import Foundation

/// What the k-anonymity check did to one quasi-identifier field.
public enum QuasiIdentifierAction: String, Sendable, Codable {
  case untouched
  case generalized
  case erased
}

/// The conclusion of the k-anonymity check.
public enum KAnonymityOutcome: String, Sendable, Codable {
  case noQuasiIdentifiers = "no_quasi_identifiers"
  case satisfied
  case generalized
}

public struct QuasiIdentifierResult: Sendable, Equatable, Codable {
  public var field: String
  public var action: QuasiIdentifierAction
  public var rule: GeneralizationRule?
}

public struct KAnonymityCheck: Sendable, Equatable, Codable {
  public var outcome: KAnonymityOutcome
  public var k: UInt64
  public var threshold: UInt64
  public var fields: [QuasiIdentifierResult]
}

/// The outcome of ErasePersonalData, kept on the record and returned again to repeated calls.
/// Holds no personal values.
public struct ErasureOutcome: Sendable, Equatable, Codable {
  public var erasedFields: [String]
  public var retainedFields: [String]
  public var keyDestroyed: Bool
  public var erasedAt: Date
  public var reason: String
  public var kAnonymity: KAnonymityCheck
}

/// The k-anonymity rule run after an erasure (vault.proto, KAnonymityCheck).
public enum KAnonymity {
  /// Decides what to do with a record's remaining quasi-identifiers.
  /// - Parameters:
  ///   - values: this record's quasi-identifier values (field -> value), only fields holding one.
  ///   - rules: each quasi-identifier field's generalization rule, if any.
  ///   - k: how many records share the combination of `values`, this one included
  ///     (QuasiIdentifierCounts).
  /// - Returns: the check and the new value of each field to change (nil: erase).
  public static func decide(
    values: [String: String], rules: [String: GeneralizationRule], k: Int, threshold: Int
  ) -> (check: KAnonymityCheck, changes: [String: String?]) {
    let names = values.keys.sorted()
    guard !names.isEmpty else {
      return (KAnonymityCheck(outcome: .noQuasiIdentifiers, k: 0, threshold: UInt64(threshold), fields: []), [:])
    }
    guard k < threshold else {
      let fields = names.map { QuasiIdentifierResult(field: $0, action: .untouched, rule: rules[$0]) }
      return (KAnonymityCheck(outcome: .satisfied, k: UInt64(k), threshold: UInt64(threshold), fields: fields), [:])
    }
    var results: [QuasiIdentifierResult] = []
    var changes: [String: String?] = [:]
    for name in names {
      let rule = rules[name]
      if let rule, let generalized = Generalization.apply(rule, to: values[name]!) {
        results.append(QuasiIdentifierResult(field: name, action: .generalized, rule: rule))
        changes.updateValue(generalized, forKey: name)
      } else {
        results.append(QuasiIdentifierResult(field: name, action: .erased, rule: rule))
        changes.updateValue(nil, forKey: name)
      }
    }
    return (KAnonymityCheck(outcome: .generalized, k: UInt64(k), threshold: UInt64(threshold), fields: results), changes)
  }
}
