public import Foundation
public import PrivacyKit

/// How much protection a field's values need. Ordered: NONE < PERSONAL < SENSITIVE.
public enum Classification: String, Sendable, CaseIterable, Codable, Comparable {
  case none
  case personal
  case sensitive

  private var rank: Int {
    switch self {
    case .none: 0
    case .personal: 1
    case .sensitive: 2
    }
  }

  public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rank < rhs.rank }

  /// PERSONAL and SENSITIVE values are always encrypted and are erased by ErasePersonalData.
  public var isPersonalData: Bool { self != .none }
}

/// Special categories of personal data (GDPR art 9).
public enum SpecialCategory: String, Sendable, CaseIterable, Codable {
  case health
  case racialOrEthnicOrigin = "racial_or_ethnic_origin"
  case politicalOpinion = "political_opinion"
  case religionOrBelief = "religion_or_belief"
  case tradeUnionMembership = "trade_union_membership"
  case genetic
  case biometric
  case sexLifeOrOrientation = "sex_life_or_orientation"
}

/// How a quasi-identifier is coarsened when an erased record would otherwise stay unique.
public enum GeneralizationRule: Sendable, Equatable, Codable {
  /// Keep the first N characters (N >= 1), replace each later one with `*`.
  case keepPrefix(Int)
  /// Keep the year of a date.
  case yearOnly
  /// Replace a number by the half-open interval of this width (>= 1) that contains it.
  case bucketWidth(Int64)

  /// A short, value-free description (`keep_prefix=3`, `year_only`, `bucket_width=10`), also the
  /// stored form.
  public var text: String {
    switch self {
    case .keepPrefix(let n): "keep_prefix=\(n)"
    case .yearOnly: "year_only"
    case .bucketWidth(let width): "bucket_width=\(width)"
    }
  }

  /// Parses `text`; nil when it is not one of the three forms.
  public init?(text: String) {
    if text == "year_only" {
      self = .yearOnly
    } else if text.hasPrefix("keep_prefix="), let n = Int(text.dropFirst("keep_prefix=".count)), n >= 1 {
      self = .keepPrefix(n)
    } else if text.hasPrefix("bucket_width="), let width = Int64(text.dropFirst("bucket_width=".count)), width >= 1 {
      self = .bucketWidth(width)
    } else {
      return nil
    }
  }
}

/// Well-known tags.
public enum FieldTag {
  /// Checked for k-anonymity after an erasure; only such fields may carry a generalization rule.
  public static let quasiIdentifier = "quasi_identifier"
  /// At most this many tags per field.
  public static let maximumCount = 32
}

/// The definition of one field of the records, as stored (effective values).
public struct FieldDefinition: Sendable, Equatable {
  public var name: String
  public var classification: Classification
  public var specialCategory: SpecialCategory?
  public var criminalOffence: Bool
  public var mask: Mask
  public var encrypted: Bool
  public var searchable: Bool
  /// Sorted and unique.
  public var tags: [String]
  public var generalization: GeneralizationRule?
  public var description: String
  public var createdAt: Date
  public var updatedAt: Date

  public init(
    name: String, classification: Classification, specialCategory: SpecialCategory?, criminalOffence: Bool, mask: Mask,
    encrypted: Bool, searchable: Bool, tags: [String], generalization: GeneralizationRule?, description: String,
    createdAt: Date, updatedAt: Date
  ) {
    self.name = name
    self.classification = classification
    self.specialCategory = specialCategory
    self.criminalOffence = criminalOffence
    self.mask = mask
    self.encrypted = encrypted
    self.searchable = searchable
    self.tags = tags
    self.generalization = generalization
    self.description = description
    self.createdAt = createdAt
    self.updatedAt = updatedAt
  }

  public var isQuasiIdentifier: Bool { tags.contains(FieldTag.quasiIdentifier) }

  /// Checked by k-anonymity after an erasure: a quasi-identifier the erasure keeps (PERSONAL and
  /// SENSITIVE values are erased, so they never take part).
  public var countsForKAnonymity: Bool { isQuasiIdentifier && !classification.isPersonalData }

  /// GetRecord shows SENSITIVE values masked, everything else in clear.
  public var isMaskedOnRead: Bool { classification == .sensitive }
}

/// What a caller asks UpsertField for, already checked for shape (name, tags, rule parameters).
public struct FieldDraft: Sendable, Equatable {
  public var name: String
  /// nil when the request left it unspecified.
  public var classification: Classification?
  public var specialCategory: SpecialCategory?
  public var criminalOffence: Bool
  /// nil for the default.
  public var mask: Mask?
  /// nil keeps the current setting (a new NONE field: false).
  public var encrypted: Bool?
  public var searchable: Bool
  public var tags: [String]
  public var generalization: GeneralizationRule?
  public var description: String

  public init(
    name: String, classification: Classification?, specialCategory: SpecialCategory? = nil, criminalOffence: Bool = false,
    mask: Mask? = nil, encrypted: Bool? = nil, searchable: Bool = false, tags: [String] = [],
    generalization: GeneralizationRule? = nil, description: String = ""
  ) {
    self.name = name
    self.classification = classification
    self.specialCategory = specialCategory
    self.criminalOffence = criminalOffence
    self.mask = mask
    self.encrypted = encrypted
    self.searchable = searchable
    self.tags = Array(Set(tags)).sorted()
    self.generalization = generalization
    self.description = description
  }
}

/// The rules of the field schema.
public enum FieldRules {
  /// The definition a draft gives over `existing`, or the rule it breaks.
  /// - Parameter hasValues: whether any record holds a value of this field.
  public static func define(
    _ draft: FieldDraft, existing: FieldDefinition?, hasValues: Bool, now: Date
  ) throws -> FieldDefinition {
    let forcedSensitive = draft.specialCategory != nil || draft.criminalOffence
    guard let requested = forcedSensitive ? .sensitive : draft.classification else {
      throw InvalidArgument("classification is required")
    }
    if draft.generalization != nil && !draft.tags.contains(FieldTag.quasiIdentifier) {
      throw InvalidArgument("generalization is only allowed on a field tagged \(FieldTag.quasiIdentifier)")
    }
    if let existing, requested < existing.classification, hasValues {
      throw VaultError.classificationDowngrade(field: draft.name, from: existing.classification, to: requested)
    }
    let mustEncrypt = requested.isPersonalData
    let wasEncrypted = existing?.encrypted ?? false
    if draft.encrypted == false && (mustEncrypt || wasEncrypted) {
      throw VaultError.encryptionIrreversible(field: draft.name)
    }
    let encrypted = mustEncrypt || wasEncrypted || (draft.encrypted ?? false)
    var mask = draft.mask ?? (requested == .sensitive ? .full : .none)
    if requested == .sensitive && mask == .none { mask = .full }
    return FieldDefinition(
      name: draft.name, classification: requested, specialCategory: draft.specialCategory,
      criminalOffence: draft.criminalOffence, mask: mask, encrypted: encrypted, searchable: draft.searchable,
      tags: draft.tags, generalization: draft.generalization, description: draft.description,
      createdAt: existing?.createdAt ?? now, updatedAt: now)
  }

  /// Whether two definitions differ in anything but their times.
  public static func sameContent(_ a: FieldDefinition, _ b: FieldDefinition) -> Bool {
    var a = a
    a.createdAt = b.createdAt
    a.updatedAt = b.updatedAt
    return a == b
  }
}
