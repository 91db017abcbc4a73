import Foundation
public import PrivacyKit
public import PrivacyProtocol
import Synchronization

/// A copy of what the consent ledger's memory holds (every subject's state, the purposes, the
/// mailing lists), kept by another process from the change feed (`WatchConsentEvents`) and the
/// catalogue's listings, so that it answers `CheckConsent`, `CheckConsentBatch` and
/// `CheckEmailEligibility` itself with the service's own rules and messages. It does not answer (nil) a question about a purpose or
/// list it does not know: the service decides those. Whether the copy is recent enough to answer
/// at all is its follower's business.
public final class LedgerMirror: Sendable {
  private struct Memory {
    /// Packed, as the ledger holds them (`PackedSubjectState`).
    var subjects: [String: PackedSubjectState] = [:]
    var purposes: [String: Purpose] = [:]
    var lists: [String: MailingList] = [:]
    var sequence: UInt64 = 0
    /// The hash of the event at `sequence` (empty before the first).
    var hash = ""
    var catalogueDigest: String?
  }

  private let memory = Mutex(Memory())

  public init() {}

  /// The last event applied.
  public var sequence: UInt64 { memory.withLock { $0.sequence } }

  /// Where to resume the feed: the last event applied and its hash (`after_sequence`, `after_hash`).
  public var position: (sequence: UInt64, hash: String) { memory.withLock { ($0.sequence, $0.hash) } }

  /// Forgets everything: the copy is not of the ledger it follows (LEDGER_DIVERGED), and is
  /// built again from the start of the feed.
  public func reset() {
    memory.withLock { $0 = Memory() }
  }

  /// The `CatalogueDigest` of the catalogue held; nil before one is loaded.
  public var catalogueDigest: String? { memory.withLock { $0.catalogueDigest } }

  /// How many subjects the copy holds.
  public var subjectCount: Int { memory.withLock { $0.subjects.count } }

  /// Folds in the next event of the feed; an event at or before `sequence` is ignored. An event
  /// of a kind this build does not know still moves `sequence` (it changes nothing it answers).
  public func apply(_ event: Privacy_Consent_V1_ConsentEvent) {
    memory.withLock { memory in
      guard event.sequence > memory.sequence else { return }
      memory.sequence = event.sequence
      memory.hash = event.hash
      guard let kind = EventKind(event.kind) else { return }
      var state = memory.subjects[event.subjectID]?.unpacked() ?? SubjectState()
      state.apply(recorded: Self.draft(event, kind: kind), sequence: event.sequence)
      memory.subjects[event.subjectID] = PackedSubjectState(state)
    }
  }

  /// Replaces the catalogue with a listing of it. A purpose whose basis or category this build
  /// does not know is left out, so questions about it go to the service.
  public func replaceCatalogue(purposes listed: [Privacy_Consent_V1_Purpose], lists: [Privacy_Consent_V1_MailingList]) {
    let digest = CatalogueDigest.of(purposes: listed, lists: lists)
    let purposes = listed.compactMap(Purpose.init(listed:))
    let lists = lists.map(MailingList.init(listed:))
    memory.withLock { memory in
      memory.purposes = Dictionary(purposes.map { ($0.id, $0) }, uniquingKeysWith: { $1 })
      memory.lists = Dictionary(lists.map { ($0.id, $0) }, uniquingKeysWith: { $1 })
      memory.catalogueDigest = digest
    }
  }

  /// The service's answer to `CheckConsent`, or nil for a purpose the copy does not know.
  /// Throws the service's INVALID_ARGUMENT for a malformed request.
  public func checkConsent(
    _ message: Privacy_Consent_V1_CheckConsentRequest
  ) throws(InvalidArgument) -> Privacy_Consent_V1_CheckConsentResponse? {
    let question = try ConsentQuestion(message)
    return memory.withLock { memory in
      memory.purposes[question.purposeID].map { purpose in
        ConsentRules.check(memory.subjects[question.subjectID]?.facts(for: question.purposeID), purpose: purpose).proto
      }
    }
  }

  /// The service's answer to `CheckConsentBatch` (read at one point of the ledger, as the
  /// service's), or nil when it asks about a purpose the copy does not know.
  public func checkConsentBatch(
    _ message: Privacy_Consent_V1_CheckConsentBatchRequest
  ) throws(InvalidArgument) -> Privacy_Consent_V1_CheckConsentBatchResponse? {
    let question = try ConsentBatchQuestion(message)
    let answers = memory.withLock { memory in question.answers(subjects: memory.subjects, purposes: memory.purposes) }
    return (try? answers.get()).map { answers in .with { $0.answers = answers.map(\.proto) } }
  }

  /// The service's answer to `CheckEmailEligibility`, or nil for a list or purpose the copy does
  /// not know.
  public func checkEmailEligibility(
    _ message: Privacy_Consent_V1_CheckEmailEligibilityRequest
  ) throws(InvalidArgument) -> Privacy_Consent_V1_CheckEmailEligibilityResponse? {
    let question = try EligibilityQuestion(message)
    let answer = memory.withLock { memory in
      question.answer(subject: memory.subjects[question.subjectID]?.unpacked(), purposes: memory.purposes, lists: memory.lists)
    }
    return try? answer.get().proto
  }

  /// What a state reads of an event: its kind and content, and of its evidence the age status,
  /// the notice version and the time of capture (personal evidence is not kept).
  private static func draft(_ event: Privacy_Consent_V1_ConsentEvent, kind: EventKind) -> EventDraft {
    let evidence = Evidence(
      channel: Channel(event.evidence.channel) ?? .api, noticeVersion: event.evidence.noticeVersion,
      capturedAt: event.evidence.capturedAt.date, subjectAge: SubjectAge(event.evidence.subjectAge))
    var draft = EventDraft(subjectID: event.subjectID, kind: kind, evidence: evidence)
    draft.purposeID = event.purposeID
    draft.decision = Decision(event.decision)
    draft.legalBasis = LegalBasis(event.legalBasis)
    draft.optInStatus = OptInStatus(event.optInStatus)
    draft.listID = event.listID
    draft.restricted = event.restricted
    draft.reason = event.reason
    return draft
  }
}

extension Purpose {
  /// A purpose as ListPurposes gives it, with what the consent rules read; nil when its basis or
  /// category is one this build does not know.
  init?(listed proto: Privacy_Consent_V1_Purpose) {
    guard let basis = LegalBasis(proto.legalBasis), let category = PurposeCategory(proto.category) else { return nil }
    self.init(
      id: proto.purposeID, title: proto.title, description: proto.description_p, legalBasis: basis, category: category,
      retentionDays: proto.retentionDays, noticeVersion: proto.noticeVersion, vaultFields: proto.vaultFields, notices: [],
      createdAt: proto.createdAt.date, updatedAt: proto.updatedAt.date, subjectCategories: proto.subjectCategories)
  }
}

extension MailingList {
  init(listed proto: Privacy_Consent_V1_MailingList) {
    self.init(
      id: proto.listID, name: proto.name, description: proto.description_p, defaultSubscribed: proto.defaultSubscribed,
      createdAt: proto.createdAt.date, updatedAt: proto.updatedAt.date)
  }
}
