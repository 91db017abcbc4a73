public import Foundation

/// A subject's latest decision about one purpose.
public struct DecisionRecord: Sendable, Equatable {
  public var decision: Decision
  public var legalBasis: LegalBasis?
  public var sequence: UInt64
  public var decidedAt: Date
  public var noticeVersion: String
}

/// A subject's explicit choice about one mailing list.
public struct SubscriptionRecord: Sendable, Equatable {
  public var subscribed: Bool
  public var sequence: UInt64
}

/// Everything the ledger says about one subject now: the fold of their events.
public struct SubjectState: Sendable, Equatable {
  public var decisions: [String: DecisionRecord] = [:]
  public var optInStatus: OptInStatus = .none
  public var restricted = false
  public var restrictionReason = ""
  public var erased = false
  public var age: SubjectAge = .unspecified
  public var subscriptions: [String: SubscriptionRecord] = [:]
  public var lastSequence: UInt64 = 0

  public init() {}

  /// Folds one event in. Events arrive in sequence order; an older event than the last one
  /// applied is ignored, so applying twice is harmless.
  public mutating func apply(_ event: LedgerEvent) {
    apply(recorded: event.draftView, sequence: event.sequence)
  }

  /// Folds in what an event recorded at `sequence` says (`apply(_:)` for an event known only by
  /// its content, as a follower of the change feed knows it).
  public mutating func apply(recorded draft: EventDraft, sequence: UInt64) {
    guard sequence > lastSequence else { return }
    lastSequence = sequence
    apply(draft, sequence: sequence)
  }

  /// Folds a draft in (for checking later drafts of the same write against it).
  public mutating func apply(_ draft: EventDraft, sequence: UInt64) {
    if draft.evidence.subjectAge != .unspecified { age = draft.evidence.subjectAge }
    switch draft.kind {
    case .consentDecision:
      if let decision = draft.decision {
        decisions[draft.purposeID] = DecisionRecord(
          decision: decision, legalBasis: draft.legalBasis, sequence: sequence,
          decidedAt: draft.evidence.capturedAt, noticeVersion: draft.evidence.noticeVersion
        )
      }
    case .optInStatusChanged:
      if let status = draft.optInStatus { optInStatus = status }
    case .subscribed, .unsubscribed:
      subscriptions[draft.listID] = SubscriptionRecord(subscribed: draft.kind == .subscribed, sequence: sequence)
    case .restrictionChanged:
      restricted = draft.restricted
      restrictionReason = draft.restricted ? draft.reason : ""
    case .subjectErased:
      erased = true
      restricted = false
      restrictionReason = ""
    case .doubleOptInStarted, .doubleOptInExpired:
      break
    }
  }

  /// Whether the subject is subscribed to a list, by their choice or the list's default.
  public func isSubscribed(to list: MailingList) -> (subscribed: Bool, explicit: Bool, sequence: UInt64) {
    if let record = subscriptions[list.id] { return (record.subscribed, true, record.sequence) }
    return (list.defaultSubscribed, false, 0)
  }
}

extension LedgerEvent {
  var draftView: EventDraft {
    var draft = EventDraft(subjectID: subjectID, kind: kind, evidence: evidence)
    draft.purposeID = purposeID
    draft.decision = decision
    draft.legalBasis = legalBasis
    draft.optInStatus = optInStatus
    draft.listID = listID
    draft.restricted = restricted
    draft.reason = reason
    draft.preferenceChangeID = preferenceChangeID
    return draft
  }
}

/// Selects subjects by state; conditions combine with AND.
public struct SubjectFilter: Sendable, Equatable {
  /// With `decisions`: the purpose whose latest decision is matched.
  public var purposeID: String?
  /// Latest decisions to match; nil in the set matches "none recorded".
  public var decisions: Set<Decision?> = []
  public var optInStatuses: Set<OptInStatus> = []
  public var restricted: Bool?
  public var includeErased = false

  public init() {}

  /// Whether a subject matches, from their state's facts for `purposeID`.
  public func matches(_ state: SubjectFacts) -> Bool {
    if state.erased && !includeErased { return false }
    if let restricted, state.restricted != restricted { return false }
    if !optInStatuses.isEmpty && !optInStatuses.contains(state.optInStatus) { return false }
    if purposeID != nil, !decisions.isEmpty, !decisions.contains(state.record?.decision) { return false }
    return true
  }
}
