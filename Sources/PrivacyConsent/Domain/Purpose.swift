public import Foundation

/// The six lawful bases of GDPR art 6(1). Raw values are what the stores keep.
public enum LegalBasis: String, Sendable, CaseIterable {
  case consent
  case contract
  case legalObligation = "legal_obligation"
  case vitalInterests = "vital_interests"
  case publicTask = "public_task"
  case legitimateInterests = "legitimate_interests"
}

/// What kind of processing a purpose covers.
public enum PurposeCategory: String, Sendable, CaseIterable {
  case dataStorage = "data_storage"
  case emailMarketing = "email_marketing"
  case engagementTracking = "engagement_tracking"
  case thirdPartySharing = "third_party_sharing"
  case automatedDecisions = "automated_decisions"
  case custom
}

/// One version of a purpose's privacy notice. Once stored, a version's text never changes:
/// evidence refers to the version a person was shown.
public struct Notice: Sendable, Equatable {
  public var version: String
  public var text: String
  public var publishedAt: Date
}

/// Why personal data is processed, on which basis, and for how long.
public struct Purpose: Sendable, Equatable {
  public var id: String
  public var title: String
  public var description: String
  public var legalBasis: LegalBasis
  public var category: PurposeCategory
  public var retentionDays: UInt32
  /// The current notice version.
  public var noticeVersion: String
  /// For data-storage purposes: the vault fields whose storage this purpose covers.
  public var vaultFields: [String]
  /// Every notice version, oldest first; the current one is among them.
  public var notices: [Notice]
  public var createdAt: Date
  public var updatedAt: Date
  /// The categories of data subjects it concerns (art 30(1)(c)).
  public var subjectCategories: [String] = []
  /// When the preference page asks a subject about it (always when empty).
  public var askWhen = AskCondition.always

  public var currentNotice: Notice? { notice(version: noticeVersion) }

  public func notice(version: String) -> Notice? {
    notices.first { $0.version == version }
  }
}

/// What a caller asks UpsertPurpose to store (validated at the edge).
public struct PurposeDraft: Sendable, Equatable {
  public var id: String
  public var title: String
  public var description: String
  public var legalBasis: LegalBasis
  public var category: PurposeCategory
  public var retentionDays: UInt32
  public var noticeVersion: String
  public var noticeText: String
  public var vaultFields: [String]
  public var subjectCategories: [String]
  public var askWhen: AskCondition

  public init(
    id: String, title: String, description: String, legalBasis: LegalBasis, category: PurposeCategory,
    retentionDays: UInt32, noticeVersion: String, noticeText: String, vaultFields: [String], subjectCategories: [String] = [],
    askWhen: AskCondition = .always
  ) {
    self.subjectCategories = subjectCategories
    self.askWhen = askWhen
    self.id = id
    self.title = title
    self.description = description
    self.legalBasis = legalBasis
    self.category = category
    self.retentionDays = retentionDays
    self.noticeVersion = noticeVersion
    self.noticeText = noticeText
    self.vaultFields = vaultFields
  }

  /// The purpose this draft makes of `existing` (nil when new) at `now`, and whether it adds a
  /// notice version. A known version with another text is refused.
  public func applied(to existing: Purpose?, now: Date) throws(ConsentError) -> (purpose: Purpose, noticeAdded: Bool) {
    var notices = existing?.notices ?? []
    var noticeAdded = false
    if let known = notices.first(where: { $0.version == noticeVersion }) {
      guard known.text == noticeText else { throw .noticeVersionImmutable(purposeID: id, version: noticeVersion) }
    } else {
      notices.append(Notice(version: noticeVersion, text: noticeText, publishedAt: now))
      noticeAdded = true
    }
    let purpose = Purpose(
      id: id, title: title, description: description, legalBasis: legalBasis, category: category,
      retentionDays: retentionDays, noticeVersion: noticeVersion, vaultFields: vaultFields, notices: notices,
      createdAt: existing?.createdAt ?? now, updatedAt: now, subjectCategories: subjectCategories, askWhen: askWhen
    )
    return (purpose, noticeAdded)
  }
}

/// A mailing list (subscription type) and the choice a contact has until they make their own.
public struct MailingList: Sendable, Equatable {
  public var id: String
  public var name: String
  public var description: String
  public var defaultSubscribed: Bool
  public var createdAt: Date
  public var updatedAt: Date

  public init(id: String, name: String, description: String, defaultSubscribed: Bool, createdAt: Date, updatedAt: Date) {
    self.id = id
    self.name = name
    self.description = description
    self.defaultSubscribed = defaultSubscribed
    self.createdAt = createdAt
    self.updatedAt = updatedAt
  }
}
