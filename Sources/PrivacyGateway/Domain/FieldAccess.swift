/// How much of a vault field's value a role may see (privacy.gateway.v1.AccessLevel).
/// Ordered from most to least restrictive: NONE < MASKED < REVEAL < CLEAR.
public enum AccessLevel: String, Sendable, CaseIterable, Comparable {
  /// Removed from every response and named as withheld.
  case none = "NONE"
  /// Shown masked by the field's mask.
  case masked = "MASKED"
  /// Shown masked; the role may call RevealField for it with a reason.
  case reveal = "REVEAL"
  /// Shown as the backend returned it.
  case clear = "CLEAR"

  private var rank: Int {
    switch self {
    case .none: 0
    case .masked: 1
    case .reveal: 2
    case .clear: 3
    }
  }

  public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rank < rhs.rank }

  /// Whether the role may call RevealField for a field at this level.
  public var mayReveal: Bool { self == .reveal || self == .clear }
}

/// A vault field's classification as the policy names it.
public enum FieldClassification: String, Sendable, CaseIterable {
  case none = "NONE"
  case personal = "PERSONAL"
  case sensitive = "SENSITIVE"
}

/// What the policy looks at to decide a field's level: the facts the vault returns with every
/// field value (name, classification, tags, art 9 category, art 10 flag). Never the value.
public struct FieldFacts: Sendable, Equatable {
  public var name: String
  public var classification: FieldClassification
  public var tags: [String]
  /// The art 9 special category in the policy's spelling (`HEALTH`, `GENETIC`, ...); nil for none.
  public var specialCategory: String?
  /// Art 10: personal data relating to criminal convictions and offences.
  public var criminalOffence: Bool

  public init(
    name: String, classification: FieldClassification, tags: [String] = [], specialCategory: String? = nil,
    criminalOffence: Bool = false
  ) {
    self.name = name
    self.classification = classification
    self.tags = tags
    self.specialCategory = specialCategory
    self.criminalOffence = criminalOffence
  }

  /// Art 9 or art 10 data.
  public var isSpecial: Bool { specialCategory != nil || criminalOffence }
}

/// The art 9 special categories in the policy's spelling (privacy.vault.v1.SpecialCategory
/// without its prefix).
public enum SpecialCategoryName {
  public static let all: Set<String> = [
    "HEALTH", "RACIAL_OR_ETHNIC_ORIGIN", "POLITICAL_OPINION", "RELIGION_OR_BELIEF", "TRADE_UNION_MEMBERSHIP",
    "GENETIC", "BIOMETRIC", "SEX_LIFE_OR_ORIENTATION",
  ]
  /// Selects every field holding art 10 data.
  public static let criminalOffence = "CRIMINAL_OFFENCE"
  /// Selects every field of any special category or holding art 10 data.
  public static let any = "ANY"
}

/// What a field access rule applies to, from most to least specific.
public enum FieldSelector: Sendable, Hashable, CustomStringConvertible {
  /// One field, by name.
  case field(String)
  /// Every field carrying the tag.
  case tag(String)
  /// Fields of an art 9 category (`HEALTH`...), with art 10 data (`CRIMINAL_OFFENCE`), or
  /// either (`ANY`, less specific than a named category).
  case specialCategory(String)
  /// Every field of the classification.
  case classification(FieldClassification)

  public var description: String {
    switch self {
    case .field(let name): "field \(name)"
    case .tag(let tag): "tag \(tag)"
    case .specialCategory(let name): "special category \(name)"
    case .classification(let classification): "classification \(classification.rawValue)"
    }
  }
}

/// One rule of a role's field policy.
public struct FieldRule: Sendable, Equatable {
  public var selector: FieldSelector
  public var level: AccessLevel

  public init(_ selector: FieldSelector, _ level: AccessLevel) {
    self.selector = selector
    self.level = level
  }
}

/// A role's field rules, indexed for the decision. Deny by default: a field no rule selects is
/// NONE.
public struct FieldPolicy: Sendable, Equatable {
  /// In the order the policy file lists them (WhoAmI shows them so).
  public let rules: [FieldRule]
  private let byField: [String: AccessLevel]
  private let byTag: [String: AccessLevel]
  private let bySpecial: [String: AccessLevel]
  private let byClassification: [FieldClassification: AccessLevel]

  public init(rules: [FieldRule]) {
    self.rules = rules
    var byField: [String: AccessLevel] = [:]
    var byTag: [String: AccessLevel] = [:]
    var bySpecial: [String: AccessLevel] = [:]
    var byClassification: [FieldClassification: AccessLevel] = [:]
    // A selector written twice keeps its most restrictive level (the file loader refuses
    // duplicates; this keeps the type safe on its own).
    func keep<K>(_ map: inout [K: AccessLevel], _ key: K, _ level: AccessLevel) {
      map[key] = map[key].map { min($0, level) } ?? level
    }
    for rule in rules {
      switch rule.selector {
      case .field(let name): keep(&byField, name, rule.level)
      case .tag(let tag): keep(&byTag, tag, rule.level)
      case .specialCategory(let name): keep(&bySpecial, name, rule.level)
      case .classification(let classification): keep(&byClassification, classification, rule.level)
      }
    }
    self.byField = byField
    self.byTag = byTag
    self.bySpecial = bySpecial
    self.byClassification = byClassification
  }

  /// The level for a field: the most specific rule that selects it wins (field > tag > special
  /// category > classification). Where several rules of the same specificity select it (two of
  /// its tags; its art 9 category and art 10), the most restrictive of them applies.
  public func level(for field: FieldFacts) -> AccessLevel {
    if let level = byField[field.name] { return level }
    if let level = field.tags.compactMap({ byTag[$0] }).min() { return level }
    var named: [AccessLevel] = []
    if let category = field.specialCategory, let level = bySpecial[category] { named.append(level) }
    if field.criminalOffence, let level = bySpecial[SpecialCategoryName.criminalOffence] { named.append(level) }
    if let level = named.min() { return level }
    if field.isSpecial, let level = bySpecial[SpecialCategoryName.any] { return level }
    return byClassification[field.classification] ?? .none
  }

  public static func == (lhs: Self, rhs: Self) -> Bool { lhs.rules == rhs.rules }
}
