public import Foundation
public import PrivacyKit
import Synchronization
public import Logging

/// Settings of the consent service beyond the common ones.
public struct ConsentSettings: Sendable {
  /// Base of the links in confirmation emails (`PUBLIC_BASE_URL`), without a trailing slash.
  public var publicBaseURL: String
  /// How long a confirmation link works (`DOUBLE_OPT_IN_TTL_HOURS`, default 7 days).
  public var confirmationLifetime: TimeInterval

  /// How long a preference link minted for a mail's footer opens the page
  /// (`PREFERENCE_LINK_TTL_DAYS`, default 90 days).
  public var preferenceLinkLifetime: TimeInterval

  public init(publicBaseURL: String, confirmationLifetime: TimeInterval, preferenceLinkLifetime: TimeInterval = 90 * 86_400) {
    self.publicBaseURL = publicBaseURL
    self.confirmationLifetime = confirmationLifetime
    self.preferenceLinkLifetime = preferenceLinkLifetime
  }
}

/// The consent service's core. Every write runs under one lock: its rules are checked against
/// the in-memory state, the store commits it in one transaction, and only then does memory change
/// and do watchers wake. A write the store refuses changes nothing. Reads on the hot path
/// (`checkConsent`, `checkEmailEligibility`, `listSubjects`) are answered from memory, which is
/// rebuilt from the ledger at start.
public final class ConsentLedger: Sendable {
  private struct Memory {
    /// Packed: a replica holds every subject (`PackedSubjectState`).
    var subjects: [String: PackedSubjectState] = [:]
    var purposes: [String: Purpose] = [:] { didSet { catalogueDigest = nil } }
    var lists: [String: MailingList] = [:] { didSet { catalogueDigest = nil } }
    var head = ChainHead.empty
    /// `CatalogueDigest` of the purposes and lists, computed at most once per change of them:
    /// every change-feed marker names it.
    var catalogueDigest: String?

    func state(of subjectID: String) -> SubjectState? {
      subjects[subjectID]?.unpacked()
    }

    mutating func apply(_ event: LedgerEvent) {
      var state = state(of: event.subjectID) ?? SubjectState()
      state.apply(event)
      subjects[event.subjectID] = PackedSubjectState(state)
    }
  }

  private let store: any ConsentStore
  private let memory: Mutex<Memory>
  private let writes = AsyncLock()
  /// Other replicas write to the same store: each write first applies what they committed, and
  /// one made on a head another replica moved is made again on the new one.
  private let followsReplicas: Bool
  private let notifier: LedgerNotifier
  private let settings: ConsentSettings
  /// The clock; tests move it to expire tokens.
  public let now: @Sendable () -> Date
  /// Who writes what the service records by itself (an expired double opt-in).
  static let system = CallerIdentity(actor: "consent-service", role: "system", requestID: "")

  private init(
    store: any ConsentStore, memory: Memory, settings: ConsentSettings, followsReplicas: Bool, now: @escaping @Sendable () -> Date
  ) {
    self.store = store
    self.followsReplicas = followsReplicas
    self.memory = Mutex(memory)
    self.notifier = LedgerNotifier(head: memory.head.sequence)
    self.settings = settings
    self.now = now
  }

  /// Opens the ledger: loads purposes, lists and the subjects' states kept with the ledger, then
  /// folds in any event after them. The states kept by every commit make this one read per
  /// subject, not a replay of history; a ledger that has none yet (the first start after the
  /// upgrade that added them) or whose states cannot be read is replayed in full once, and the
  /// states are written back.
  public static func open(
    store: any ConsentStore, settings: ConsentSettings, followsReplicas: Bool = false, logger: Logger? = nil,
    now: @escaping @Sendable () -> Date = { Date() }
  ) async throws -> ConsentLedger {
    var memory = Memory()
    for purpose in try await store.loadPurposes() { memory.purposes[purpose.id] = purpose }
    for list in try await store.loadMailingLists() { memory.lists[list.id] = list }
    var rebuild = false
    var kept: UInt64 = 0
    do {
      let loaded = try await store.subjectStates()
      kept = loaded.lastSequence
      // Consumed, not copied: a second reference would make the first write copy every state.
      memory.subjects = (consume loaded).states
    } catch is SubjectStateUnreadable {
      logger?.warning("kept subject states are unreadable; rebuilding them from the ledger")
      rebuild = true
    }
    if kept > 0 {
      guard let event = try await store.event(sequence: kept) else {
        throw LedgerCorruption(sequence: kept, column: "subject_states")
      }
      memory.head = ChainHead(event)
    }
    // Folded unpacked, then packed once: a rebuild replays the whole ledger.
    var replayed: [String: SubjectState] = [:]
    while true {
      let batch = try await store.events(EventQuery(after: memory.head.sequence, limit: 10_000))
      guard let last = batch.last else { break }
      for event in batch {
        replayed[event.subjectID, default: memory.state(of: event.subjectID) ?? SubjectState()].apply(event)
      }
      memory.head = ChainHead(last)
    }
    for (subjectID, state) in replayed { memory.subjects[subjectID] = PackedSubjectState(state) }
    if rebuild {
      try await store.saveSubjectStates(replayed, replacingAll: true)
    } else if !replayed.isEmpty {
      try await store.saveSubjectStates(replayed, replacingAll: false)
      logger?.info("kept subject states caught up with the ledger", metadata: ["subjects": "\(replayed.count)"])
    }
    return ConsentLedger(store: store, memory: memory, settings: settings, followsReplicas: followsReplicas, now: now)
  }

  /// Ends every change-feed wait (the server is draining).
  public func closeWatchers() {
    notifier.close()
  }

  // MARK: Write path

  /// Runs one write: `body` checks rules (reading memory, which no other write can change
  /// meanwhile) and fills the commit; the store commits it; memory follows. Beside other
  /// replicas the write holds the store's writer lock (`exclusively`) and memory first takes in
  /// what they committed; the store still refuses a commit made on a head that moved
  /// (`LedgerHeadMoved`), so even a writer outside the lock cannot fork the chain. Memory follows
  /// only once `exclusively` returned: on PostgreSQL that is when the write's transaction committed.
  private func write<T: Sendable>(
    _ caller: CallerIdentity, _ body: (inout LedgerCommit) async throws -> T
  ) async throws -> T {
    try await writes.withLock {
      let (result, committed) = try await store.exclusively { () async throws -> (T, LedgerCommit?) in
        if followsReplicas { try await applyCommitted() }
        var commit = LedgerCommit(head: memory.withLock { $0.head }, now: now(), caller: caller)
        let result = try await body(&commit)
        guard !commit.isEmpty else { return (result, nil) }
        commit.subjectStates = statesAfter(commit.events)
        try await store.commit(commit)
        return (result, commit)
      }
      if let committed { remember(committed) }
      return result
    }
  }

  /// The states of the subjects `events` touch, once they are applied. Call with `writes` held.
  private func statesAfter(_ events: [LedgerEvent]) -> [String: SubjectState] {
    memory.withLock { memory in
      var states: [String: SubjectState] = [:]
      for event in events { states[event.subjectID, default: memory.state(of: event.subjectID) ?? SubjectState()].apply(event) }
      return states
    }
  }

  /// Moves memory after a committed write. Call with `writes` held.
  private func remember(_ committed: LedgerCommit) {
    memory.withLock { memory in
      for (subject, state) in committed.subjectStates { memory.subjects[subject] = PackedSubjectState(state) }
      for purpose in committed.purposes { memory.purposes[purpose.id] = purpose }
      for list in committed.lists { memory.lists[list.id] = list }
      memory.head = committed.head
    }
    notifier.advance(to: committed.head.sequence)
  }

  // MARK: Following other replicas

  /// Applies what other replicas committed since the last event memory holds: their events
  /// (folded into the subjects' states) and the purposes and mailing lists as they are now.
  public func catchUp() async throws {
    try await writes.withLock {
      try await applyCommitted()
      let purposes = try await store.loadPurposes()
      let lists = try await store.loadMailingLists()
      memory.withLock { memory in
        for purpose in purposes { memory.purposes[purpose.id] = purpose }
        for list in lists { memory.lists[list.id] = list }
      }
    }
  }

  /// Folds in the events after memory's head. Call with `writes` held.
  private func applyCommitted() async throws {
    var head = memory.withLock { $0.head }
    while true {
      let batch = try await store.events(EventQuery(after: head.sequence, limit: 10_000))
      guard let last = batch.last else { break }
      head = ChainHead(last)
      memory.withLock { memory in
        for event in batch { memory.apply(event) }
        memory.head = head
      }
    }
    notifier.advance(to: head.sequence)
  }

  private func subject(_ id: String) -> SubjectState? {
    memory.withLock { $0.state(of: id) }
  }

  private func purpose(_ id: String) throws(ConsentError) -> Purpose {
    guard let purpose = memory.withLock({ $0.purposes[id] }) else { throw .purposeNotFound(id) }
    return purpose
  }

  private func list(_ id: String) throws(ConsentError) -> MailingList {
    guard let list = memory.withLock({ $0.lists[id] }) else { throw .listNotFound(id) }
    return list
  }

  /// The ids of the purposes whose `askWhen` holds for these attributes, ordered.
  public func purposesToAsk(_ attributes: [String: String]) -> [String] {
    memory.withLock { $0.purposes.values.filter { $0.askWhen.holds(for: attributes) }.map(\.id).sorted() }
  }

  /// The purpose with this id, if there is one.
  public func knownPurpose(_ id: String) -> Purpose? {
    memory.withLock { $0.purposes[id] }
  }

  /// Whether the subject was erased (their later writes are refused).
  public func isErased(_ subjectID: String) -> Bool {
    memory.withLock { $0.subjects[subjectID]?.facts(for: nil).erased ?? false }
  }

  private func requireNotErased(_ subjectID: String) throws(ConsentError) {
    if subject(subjectID)?.erased == true { throw .subjectErased(subjectID) }
  }

  /// The evidence with its notice version resolved: empty means the purpose's current version;
  /// a version the purpose never published is refused.
  private func resolvingNotice(_ evidence: Evidence, of purpose: Purpose) throws(ConsentError) -> Evidence {
    var evidence = evidence
    if evidence.noticeVersion.isEmpty {
      evidence.noticeVersion = purpose.noticeVersion
    } else if purpose.notice(version: evidence.noticeVersion) == nil {
      throw .unknownNoticeVersion(purposeID: purpose.id, version: evidence.noticeVersion)
    }
    return evidence
  }

  // MARK: Purposes and lists

  public func upsertPurpose(_ draft: PurposeDraft, caller: CallerIdentity) async throws -> (purpose: Purpose, created: Bool, noticeAdded: Bool) {
    try await write(caller) { commit in
      let existing = memory.withLock { $0.purposes[draft.id] }
      var (purpose, noticeAdded) = try draft.applied(to: existing, now: commit.now)
      if let existing {
        var unchanged = purpose
        unchanged.updatedAt = existing.updatedAt
        if unchanged == existing { return (existing, false, false) }
      }
      purpose.updatedAt = commit.now
      commit.purposes.append(purpose)
      return (purpose, existing == nil, noticeAdded)
    }
  }

  public func listPurposes(_ page: PageRequest) -> (purposes: [Purpose], nextCursor: String?) {
    let all = memory.withLock { Array($0.purposes.values) }
    return paged(all.sorted { $0.id < $1.id }, page, key: \.id)
  }

  public func upsertMailingList(
    id: String, name: String, description: String, defaultSubscribed: Bool, caller: CallerIdentity
  ) async throws -> (list: MailingList, created: Bool) {
    try await write(caller) { commit in
      let existing = memory.withLock { $0.lists[id] }
      let list = MailingList(
        id: id, name: name, description: description, defaultSubscribed: defaultSubscribed,
        createdAt: existing?.createdAt ?? commit.now, updatedAt: commit.now)
      if let existing, existing.name == name, existing.description == description, existing.defaultSubscribed == defaultSubscribed {
        return (existing, false)
      }
      commit.lists.append(list)
      return (list, existing == nil)
    }
  }

  public func listMailingLists(_ page: PageRequest) -> (lists: [MailingList], nextCursor: String?) {
    let all = memory.withLock { Array($0.lists.values) }
    return paged(all.sorted { $0.id < $1.id }, page, key: \.id)
  }

  // MARK: Decisions

  public func recordConsent(
    subjectID: String, purposeID: String, decision: Decision, evidence: Evidence, legalBasis: LegalBasis?,
    caller: CallerIdentity
  ) async throws -> LedgerEvent {
    try await write(caller) { commit in
      let purpose = try purpose(purposeID)
      let evidence = try resolvingNotice(evidence, of: purpose)
      let basis = legalBasis ?? purpose.legalBasis
      try ConsentRules.checkDecision(
        decision, basis: basis, evidence: evidence, subject: subject(subjectID), subjectID: subjectID, purposeID: purposeID)
      return commit.append(Self.decisionDraft(subjectID, purposeID, decision, basis, evidence))
    }
  }

  private static func decisionDraft(
    _ subjectID: String, _ purposeID: String, _ decision: Decision, _ basis: LegalBasis, _ evidence: Evidence
  ) -> EventDraft {
    var draft = EventDraft(subjectID: subjectID, kind: .consentDecision, evidence: evidence)
    draft.purposeID = purposeID
    draft.decision = decision
    draft.legalBasis = basis
    return draft
  }

  /// Which subjects a bulk update touches.
  public enum BulkSelector: Sendable {
    case subjects([String])
    case filter(SubjectFilter)
  }

  /// One decision for many subjects, all or nothing, one event each with the reason.
  public func bulkUpdate(
    _ selector: BulkSelector, purposeID: String, decision: Decision, legalBasis: LegalBasis?, evidence: Evidence,
    reason: String, caller: CallerIdentity
  ) async throws -> (count: Int, first: UInt64, last: UInt64) {
    try await write(caller) { commit in
      let purpose = try purpose(purposeID)
      let evidence = try resolvingNotice(evidence, of: purpose)
      let basis = legalBasis ?? purpose.legalBasis
      let subjectIDs: [String]
      switch selector {
      case .subjects(let ids):
        subjectIDs = Array(Set(ids)).sorted()
      case .filter(var filter):
        filter.includeErased = false
        subjectIDs = memory.withLock { memory in
          memory.subjects.filter { filter.matches($0.value.facts(for: filter.purposeID)) }.keys.sorted()
        }
      }
      for subjectID in subjectIDs {
        try ConsentRules.checkDecision(
          decision, basis: basis, evidence: evidence, subject: subject(subjectID), subjectID: subjectID, purposeID: purposeID)
        var draft = Self.decisionDraft(subjectID, purposeID, decision, basis, evidence)
        draft.reason = reason
        commit.append(draft)
      }
      return (commit.events.count, commit.events.first?.sequence ?? 0, commit.events.last?.sequence ?? 0)
    }
  }

  public func checkConsent(subjectID: String, purposeID: String) throws(ConsentError) -> ConsentAnswer {
    let answer: ConsentAnswer? = memory.withLock { memory in
      guard let purpose = memory.purposes[purposeID] else { return nil }
      return ConsentRules.check(memory.subjects[subjectID]?.facts(for: purposeID), purpose: purpose)
    }
    guard let answer else { throw .purposeNotFound(purposeID) }
    return answer
  }

  /// The answers for many subject × purpose pairs, in order, read under one lock: no event lands
  /// between two answers of a batch. Throws for the first unknown purpose.
  func checkConsent(_ question: ConsentBatchQuestion) throws(ConsentError) -> [ConsentAnswer] {
    try memory.withLock { memory in question.answers(subjects: memory.subjects, purposes: memory.purposes) }.get()
  }

  /// A subject's state: every purpose evaluated, opt-in status, restriction, erasure.
  public struct SubjectView: Sendable {
    public var subjectID: String
    public var state: SubjectState
    public var purposes: [(purpose: Purpose, answer: ConsentAnswer, record: DecisionRecord?)]
  }

  public func consentState(subjectID: String) throws(ConsentError) -> SubjectView {
    let view: SubjectView? = memory.withLock { memory in
      guard let state = memory.state(of: subjectID) else { return nil }
      let purposes = memory.purposes.values.sorted { $0.id < $1.id }.map { purpose in
        (purpose, ConsentRules.check(state, purpose: purpose), state.decisions[purpose.id])
      }
      return SubjectView(subjectID: subjectID, state: state, purposes: purposes)
    }
    guard let view else { throw .subjectNotFound(subjectID) }
    return view
  }

  public func listSubjects(_ filter: SubjectFilter, _ page: PageRequest) throws(ConsentError) -> (subjects: [(String, SubjectState)], nextCursor: String?) {
    if let purposeID = filter.purposeID { _ = try purpose(purposeID) }
    let cursor = page.cursor ?? ""
    return memory.withLock { memory in
      let sorted = memory.subjects.filter { $0.key > cursor && filter.matches($0.value.facts(for: filter.purposeID)) }.keys.sorted()
      let items = sorted.prefix(page.size).map { ($0, memory.subjects[$0]!.unpacked()) }
      return (items, sorted.count > page.size ? items.last?.0 : nil)
    }
  }

  public func events(_ query: EventQuery) async throws -> [LedgerEvent] {
    try await store.events(query)
  }

  /// The event at `sequence`, as stored.
  public func event(sequence: UInt64) async throws -> LedgerEvent? {
    try await store.event(sequence: sequence)
  }

  // MARK: Email opt-in

  public func setOptInStatus(
    subjectID: String, status: OptInStatus, setBy setter: OptInSetter, evidence: Evidence, caller: CallerIdentity
  ) async throws -> (previous: OptInStatus, event: LedgerEvent?) {
    try await write(caller) { commit in
      try requireNotErased(subjectID)
      let current = subject(subjectID)?.optInStatus ?? .none
      try OptInRules.checkChange(from: current, to: status, by: setter)
      guard current != status else { return (current, nil) }
      var draft = EventDraft(subjectID: subjectID, kind: .optInStatusChanged, evidence: evidence)
      draft.optInStatus = status
      return (current, commit.append(draft))
    }
  }

  public func startDoubleOptIn(
    subjectID: String, emailAddress: String, evidence: Evidence, language: MailLanguage = .en, caller: CallerIdentity
  ) async throws -> (messageID: String, expiresAt: Date, event: LedgerEvent) {
    try await write(caller) { commit in
      try requireNotErased(subjectID)
      let state = subject(subjectID)
      if state?.restricted == true { throw ConsentError.subjectRestricted(subjectID) }
      try OptInRules.checkDoubleOptIn(from: state?.optInStatus ?? .none)
      let message = issueConfirmation(
        .doubleOptIn, subjectID: subjectID, emailAddress: emailAddress, changes: [], formName: evidence.formName, language: language,
        into: &commit)
      var evidence = evidence
      evidence.emailAddress = emailAddress
      let event = commit.append(EventDraft(subjectID: subjectID, kind: .doubleOptInStarted, evidence: evidence))
      return (message.id, message.expiresAt, event)
    }
  }

  public func confirmDoubleOptIn(token: String, ipAddress: String, userAgent: String, caller: CallerIdentity) async throws -> LedgerEvent {
    try await write(caller) { commit in
      let confirmation = try await usableConfirmation(token, kind: .doubleOptIn, now: commit.now)
      try requireNotErased(confirmation.subjectID)
      try OptInRules.checkDoubleOptIn(from: subject(confirmation.subjectID)?.optInStatus ?? .none)
      commit.usedConfirmationID = confirmation.id
      var evidence = Self.clickEvidence(confirmation, ipAddress: ipAddress, userAgent: userAgent, now: commit.now)
      evidence.emailAddress = confirmation.emailAddress
      var draft = EventDraft(subjectID: confirmation.subjectID, kind: .optInStatusChanged, evidence: evidence)
      draft.optInStatus = .doubleOptIn
      return commit.append(draft)
    }
  }

  /// Records in the ledger every double opt-in whose link expired unconfirmed (up to `limit`
  /// per call), so that what waited for it (a pending contact in the vault) can follow; returns
  /// how many. Erased subjects' confirmations were voided and are not among them.
  @discardableResult
  public func recordExpiredDoubleOptIns(limit: Int = 500) async throws -> Int {
    try await write(Self.system) { commit in
      let lapsed = try await store.lapsedDoubleOptIns(at: commit.now, limit: limit)
      for confirmation in lapsed {
        let evidence = Evidence(
          channel: .emailLink, formName: confirmation.formName, actor: Self.system.actor, actorKind: .system,
          capturedAt: confirmation.expiresAt)
        var draft = EventDraft(subjectID: confirmation.subjectID, kind: .doubleOptInExpired, evidence: evidence)
        draft.reason = "double opt-in link expired unconfirmed"
        commit.append(draft)
        commit.lapsedConfirmationIDs.append(confirmation.id)
      }
      return lapsed.count
    }
  }

  func checkEmailEligibility(_ question: EligibilityQuestion) throws(ConsentError) -> EligibilityAnswer {
    try memory.withLock { memory in
      question.answer(subject: memory.state(of: question.subjectID), purposes: memory.purposes, lists: memory.lists)
    }.get()
  }

  // MARK: Subscriptions

  /// Records a subscription choice; nil when the subject already made the same explicit choice.
  public func setSubscription(
    subjectID: String, listID: String, subscribed: Bool, evidence: Evidence, caller: CallerIdentity
  ) async throws -> LedgerEvent? {
    try await write(caller) { commit in
      let list = try list(listID)
      try requireNotErased(subjectID)
      if let current = subject(subjectID)?.subscriptions[listID], current.subscribed == subscribed { return nil }
      var draft = EventDraft(subjectID: subjectID, kind: subscribed ? .subscribed : .unsubscribed, evidence: evidence)
      draft.listID = list.id
      return commit.append(draft)
    }
  }

  public func subscriptions(subjectID: String) -> [(list: MailingList, subscribed: Bool, explicit: Bool, sequence: UInt64)] {
    memory.withLock { memory in
      let state = memory.state(of: subjectID) ?? SubjectState()
      return memory.lists.values.sorted { $0.id < $1.id }.map { list in
        let choice = state.isSubscribed(to: list)
        return (list, choice.subscribed, choice.explicit, choice.sequence)
      }
    }
  }

  // MARK: Preference changes

  public func requestPreferenceChange(
    subjectID: String, emailAddress: String, changes: [PreferenceChangeItem], evidence: Evidence, language: MailLanguage = .en,
    caller: CallerIdentity
  ) async throws -> (changeID: String, messageID: String, expiresAt: Date) {
    try await write(caller) { commit in
      try requireNotErased(subjectID)
      // A guardian asking for a child confirms by the link sent to the guardian's address.
      let guardian = evidence.actorKind == .guardian ? evidence.actor : ""
      // Checked now so a request that can never apply fails early; checked again on confirmation.
      var asConfirmed = evidence
      asConfirmed.channel = guardian.isEmpty ? evidence.channel : .emailLink
      _ = try preferenceDrafts(changes, subjectID: subjectID, evidence: asConfirmed, changeID: "")
      let message = issueConfirmation(
        .preferenceChange, subjectID: subjectID, emailAddress: emailAddress, changes: changes,
        formName: evidence.formName, guardian: guardian, requestChannel: guardian.isEmpty ? evidence.channel : nil, language: language,
        into: &commit)
      return (commit.newConfirmations[0].id, message.id, message.expiresAt)
    }
  }

  public func confirmPreferenceChange(
    token: String, ipAddress: String, userAgent: String, caller: CallerIdentity
  ) async throws -> (changeID: String, subjectID: String, events: [LedgerEvent]) {
    try await write(caller) { commit in
      let confirmation = try await usableConfirmation(token, kind: .preferenceChange, now: commit.now)
      try requireNotErased(confirmation.subjectID)
      commit.usedConfirmationID = confirmation.id
      let evidence = Self.clickEvidence(confirmation, ipAddress: ipAddress, userAgent: userAgent, now: commit.now)
      let drafts = try preferenceDrafts(
        confirmation.changes, subjectID: confirmation.subjectID, evidence: evidence, changeID: confirmation.id)
      let events = drafts.map { commit.append($0) }
      return (confirmation.id, confirmation.subjectID, events)
    }
  }

  /// The events a set of preference changes makes, skipping changes that alter nothing. A
  /// child's consent grant needs the guardian's confirmation (art 8).
  private func preferenceDrafts(
    _ changes: [PreferenceChangeItem], subjectID: String, evidence: Evidence, changeID: String
  ) throws(ConsentError) -> [EventDraft] {
    var state = subject(subjectID) ?? SubjectState()
    var drafts: [EventDraft] = []
    for change in changes {
      var draft: EventDraft
      switch change {
      case .consent(let purposeID, let decision):
        let purpose = try purpose(purposeID)
        let resolved = try resolvingNotice(evidence, of: purpose)
        let basis = state.decisions[purposeID]?.legalBasis ?? purpose.legalBasis
        try ConsentRules.checkDecision(decision, basis: basis, evidence: resolved, subject: state, subjectID: subjectID, purposeID: purposeID)
        if state.decisions[purposeID]?.decision == decision { continue }
        draft = Self.decisionDraft(subjectID, purposeID, decision, basis, resolved)
      case .subscription(let listID, let subscribed):
        let list = try list(listID)
        if state.subscriptions[listID]?.subscribed == subscribed { continue }
        draft = EventDraft(subjectID: subjectID, kind: subscribed ? .subscribed : .unsubscribed, evidence: evidence)
        draft.listID = list.id
      case .restriction(let restricted):
        if state.restricted == restricted { continue }
        draft = Self.restrictionDraft(subjectID, restricted: restricted, reason: Self.subjectsOwnRestriction, evidence: evidence)
      }
      draft.preferenceChangeID = changeID
      state.apply(draft, sequence: state.lastSequence)
      drafts.append(draft)
    }
    return drafts
  }

  // MARK: Confirmations and outbox

  /// Creates a confirmation (replacing the subject's pending one of the same kind) and its outbox
  /// message with the link. Only the token's hash is stored with the confirmation.
  private func issueConfirmation(
    _ kind: ConfirmationKind, subjectID: String, emailAddress: String, changes: [PreferenceChangeItem], formName: String,
    guardian: String = "", requestChannel: Channel? = nil, language: MailLanguage, into commit: inout LedgerCommit
  ) -> OutboxMessage {
    let token = SecureToken.generate()
    let expiresAt = commit.now.addingTimeInterval(settings.confirmationLifetime)
    let path = kind == .doubleOptIn ? "confirm/double-opt-in" : "confirm/preferences"
    let link = "\(settings.publicBaseURL)/\(path)?token=\(token)"
    // The footer's personal link opens the page as long as the confirmation works.
    let page = MintedPreferenceLink(
      subjectID: subjectID, base: settings.publicBaseURL, now: commit.now, lifetime: settings.confirmationLifetime)
    let message = OutboxMessage(
      id: UUID().uuidString.lowercased(), kind: kind, subjectID: subjectID, emailAddress: emailAddress,
      subjectLine: ConfirmationMail.subject(kind, language),
      body: ConfirmationMail.body(kind, language, link: link, expiresAt: expiresAt, preferenceURL: page.url),
      link: link, preferenceURL: page.url, unsubscribeURL: page.unsubscribeURL, language: language, createdAt: commit.now,
      expiresAt: expiresAt)
    commit.preferenceLinks.append(page.link)
    commit.supersede = (subjectID, kind)
    commit.newConfirmations.append(
      Confirmation(
        id: UUID().uuidString.lowercased(), kind: kind, subjectID: subjectID, tokenHash: SecureToken.hash(token),
        emailAddress: emailAddress, changes: changes, formName: formName, createdAt: commit.now, expiresAt: expiresAt,
        messageID: message.id, guardian: guardian, requestChannel: requestChannel))
    commit.outbox.append(message)
    return message
  }

  private func usableConfirmation(_ token: String, kind: ConfirmationKind, now: Date) async throws -> Confirmation {
    guard let confirmation = try await store.confirmation(tokenHash: SecureToken.hash(token)), confirmation.kind == kind else {
      throw ConsentError.tokenNotFound
    }
    if subject(confirmation.subjectID)?.erased == true { throw ConsentError.subjectErased(confirmation.subjectID) }
    try confirmation.checkUsable(at: now)
    return confirmation
  }

  /// Evidence of a person following a confirmation link: the guardian's, naming them and the
  /// subject as a child, when a guardian asked for the changes. Its channel is where the changes
  /// were asked for (the preference page), or EMAIL_LINK when the click stands for itself.
  private static func clickEvidence(_ confirmation: Confirmation, ipAddress: String, userAgent: String, now: Date) -> Evidence {
    let byGuardian = !confirmation.guardian.isEmpty
    return Evidence(
      channel: byGuardian ? .emailLink : confirmation.requestChannel ?? .emailLink, formName: confirmation.formName, ipAddress: ipAddress,
      userAgent: userAgent, actor: confirmation.guardian,
      actorKind: byGuardian ? .guardian : .subject, capturedAt: now, subjectAge: byGuardian ? .child : .unspecified)
  }

  public func outbox(after position: Int64, filter: OutboxFilter, limit: Int) async throws -> [OutboxMessage] {
    try await store.outbox(after: position, filter: filter, limit: limit)
  }

  public func ackOutbox(ids: [String]) async throws -> Int {
    try await store.ackOutbox(ids: ids, at: now())
  }

  public func leaseOutbox(_ lease: OutboxLease) async throws -> [OutboxMessage] {
    let now = now()
    return try await store.leaseOutbox(limit: lease.maxMessages, until: lease.end(from: now), now: now)
  }

  public func reportOutboxFailure(_ report: OutboxFailureReport) async throws -> OutboxMessage {
    try await store.reportOutboxFailure(report, at: now())
  }

  // MARK: Restriction and erasure

  /// Restricts or releases a subject; nil when already in that state.
  public func setRestriction(
    subjectID: String, restricted: Bool, reason: String, evidence: Evidence, caller: CallerIdentity
  ) async throws -> LedgerEvent? {
    try await write(caller) { commit in
      try requireNotErased(subjectID)
      if (subject(subjectID)?.restricted ?? false) == restricted { return nil }
      return commit.append(Self.restrictionDraft(subjectID, restricted: restricted, reason: reason, evidence: evidence))
    }
  }

  /// The reason recorded when the person stops or resumes processing from their own page.
  static let subjectsOwnRestriction = "asked for by the subject"

  private static func restrictionDraft(_ subjectID: String, restricted: Bool, reason: String, evidence: Evidence) -> EventDraft {
    var draft = EventDraft(subjectID: subjectID, kind: .restrictionChanged, evidence: evidence)
    draft.restricted = restricted
    draft.reason = reason
    return draft
  }

  public struct ErasureOutcome: Sendable {
    public var alreadyErased: Bool
    public var purposesWithdrawn: Int
    public var eventsScrubbed: Int
    public var outboxMessagesScrubbed: Int
    public var event: LedgerEvent?
  }

  /// Withdraws every granted purpose, records the erasure and removes the subject's personal
  /// evidence, outbox addresses and pending confirmations. Idempotent.
  public func eraseSubject(subjectID: String, reason: String, caller: CallerIdentity) async throws -> ErasureOutcome {
    try await write(caller) { commit in
      let state = subject(subjectID)
      if state?.erased == true {
        return ErasureOutcome(alreadyErased: true, purposesWithdrawn: 0, eventsScrubbed: 0, outboxMessagesScrubbed: 0, event: nil)
      }
      let evidence = Evidence(channel: .api, actor: caller.actor, actorKind: .system, capturedAt: commit.now)
      let granted = (state?.decisions ?? [:]).filter { $0.value.decision == .granted }.sorted { $0.key < $1.key }
      for (purposeID, record) in granted {
        var draft = Self.decisionDraft(subjectID, purposeID, .withdrawn, record.legalBasis ?? .consent, evidence)
        draft.reason = reason
        commit.append(draft)
      }
      var draft = EventDraft(subjectID: subjectID, kind: .subjectErased, evidence: evidence)
      draft.reason = reason
      let event = commit.append(draft)
      commit.erasedSubjects = [subjectID]
      let counts = try await store.personalDataCounts(subjectID: subjectID)
      return ErasureOutcome(
        alreadyErased: false, purposesWithdrawn: granted.count, eventsScrubbed: counts.events,
        outboxMessagesScrubbed: counts.outboxMessages, event: event)
    }
  }

  // MARK: Change feed and verification

  /// Waits until the ledger holds an event after `sequence`; false when the server drains or the
  /// caller goes away.
  public func waitForEvents(after sequence: UInt64) async -> Bool {
    await notifier.wait(after: sequence)
  }

  /// Waits as `waitForEvents(after:)` does, for at most `period`.
  func waitForEvents(after sequence: UInt64, atMost period: Duration) async -> LedgerNotifier.Outcome {
    await notifier.wait(after: sequence, atMost: period)
  }

  /// The last event memory holds.
  public var headSequence: UInt64 { memory.withLock { $0.head.sequence } }

  /// The digest of the purposes and mailing lists (`CatalogueDigest`): what tells a follower of
  /// the change feed that its copy of the catalogue is not the service's.
  public var catalogueDigest: String {
    memory.withLock { memory in
      if let digest = memory.catalogueDigest { return digest }
      let digest = CatalogueDigest.of(purposes: memory.purposes.values.map(\.proto), lists: memory.lists.values.map(\.proto))
      memory.catalogueDigest = digest
      return digest
    }
  }

  /// Recomputes the chain: the whole ledger (also noticing events missing from its end while the
  /// service runs), or one subject's events against their predecessors.
  public func verify(subjectID: String?) async throws -> ChainVerification {
    guard let subjectID else { return try await verifyAll() }
    // Under the write lock, so the state the service answers from cannot move while it is compared.
    // Beside other replicas, after taking in what they wrote: their events are the subject's too.
    return try await writes.withLock {
      if followsReplicas { try await applyCommitted() }
      return try await verifySubject(subjectID)
    }
  }

  /// Checks a subject's events and their links to their predecessors, then that the state the
  /// service answers from (kept with the ledger, read at start) is the fold of those events.
  private func verifySubject(_ subjectID: String) async throws -> ChainVerification {
    var checked: UInt64 = 0
    var after: UInt64 = 0
    var lastHash = ""
    var folded = SubjectState()
    while true {
      let batch: [LedgerEvent]
      do {
        batch = try await store.events(EventQuery(subjectID: subjectID, after: after, limit: 1000))
      } catch let corruption as LedgerCorruption {
        return .unreadable(sequence: corruption.sequence, column: corruption.column, checked: checked)
      }
      guard !batch.isEmpty else { break }
      for event in batch {
        checked += 1
        let predecessor: LedgerEvent?
        do {
          predecessor = event.sequence > 1 ? try await store.event(sequence: event.sequence - 1) : nil
        } catch let corruption as LedgerCorruption {
          return .unreadable(sequence: corruption.sequence, column: corruption.column, checked: checked)
        }
        if let problem = ChainVerifier.checkLink(event, predecessor: predecessor) {
          return ChainVerification(valid: false, entriesChecked: checked, firstBrokenSequence: event.sequence, problem: problem, headHash: "")
        }
        folded.apply(event)
        lastHash = event.hash
      }
      after = batch.last!.sequence
    }
    if (subject(subjectID) ?? SubjectState()) != folded {
      return ChainVerification(
        valid: false, entriesChecked: checked, firstBrokenSequence: nil,
        problem: "the subject's state the service answers from does not follow from its events", headHash: lastHash)
    }
    return ChainVerification(valid: true, entriesChecked: checked, firstBrokenSequence: nil, problem: "", headHash: lastHash)
  }

  private func verifyAll() async throws -> ChainVerification {
    var verifier = ChainVerifier()
    var after: UInt64 = 0
    let knownHead = memory.withLock { $0.head.sequence }
    while true {
      let batch: [LedgerEvent]
      do {
        batch = try await store.events(EventQuery(after: after, limit: 1000))
      } catch let corruption as LedgerCorruption {
        verifier.unreadable(sequence: corruption.sequence, column: corruption.column)
        return verifier.result
      }
      guard !batch.isEmpty else { break }
      for event in batch {
        guard verifier.check(event) else { return verifier.result }
      }
      after = batch.last!.sequence
    }
    verifier.finish(knownHead: knownHead)
    guard verifier.result.valid else { return verifier.result }
    return try await verifyStates(chain: verifier.result)
  }

  /// After the chain verified: every subject's state the service answers from must be the fold of
  /// their events. Reads the ledger subject by subject; a subject whose state differs is checked
  /// again under the write lock (a write may have moved it meanwhile) before it is reported.
  private func verifyStates(chain: ChainVerification) async throws -> ChainVerification {
    // Subjects are counted against memory as it was now: a subject whose first event comes later
    // was added by a write during the pass.
    let (subjectsNow, headNow) = memory.withLock { ($0.subjects.count, $0.head.sequence) }
    var position: (subjectID: String, sequence: UInt64)?
    var current: (id: String, state: SubjectState)?
    var seen = 0
    func differs(_ id: String, _ folded: SubjectState) async throws -> Bool {
      if (subject(id) ?? SubjectState()) == folded { return false }
      return try await !verify(subjectID: id).valid
    }
    func broken(at sequence: UInt64) -> ChainVerification {
      ChainVerification(
        valid: false, entriesChecked: chain.entriesChecked, firstBrokenSequence: sequence,
        problem: "the state the service answers from for the subject of entry \(sequence) does not follow from their events",
        headHash: "")
    }
    while true {
      let batch: [LedgerEvent]
      do {
        batch = try await store.eventsBySubject(after: position, limit: 1000)
      } catch let corruption as LedgerCorruption {
        return .unreadable(sequence: corruption.sequence, column: corruption.column, checked: chain.entriesChecked)
      }
      guard let last = batch.last else { break }
      for event in batch {
        if let (id, state) = current, id != event.subjectID {
          if try await differs(id, state) { return broken(at: state.lastSequence) }
          current = nil
        }
        if current == nil {
          current = (event.subjectID, SubjectState())
          if event.sequence <= headNow { seen += 1 }
        }
        current!.state.apply(event)
      }
      position = (last.subjectID, last.sequence)
    }
    if let (id, state) = current, try await differs(id, state) { return broken(at: state.lastSequence) }
    // A state kept for a subject without events answers for nobody the ledger knows.
    if subjectsNow != seen {
      return ChainVerification(
        valid: false, entriesChecked: chain.entriesChecked, firstBrokenSequence: nil,
        problem: "the service answers for subjects the ledger has no events for", headHash: "")
    }
    return chain
  }

  private func paged<T>(_ sorted: [T], _ page: PageRequest, key: KeyPath<T, String>) -> ([T], String?) {
    let remaining = sorted.filter { page.cursor == nil || $0[keyPath: key] > page.cursor! }
    let items = Array(remaining.prefix(page.size))
    return (items, remaining.count > page.size ? items.last.map { $0[keyPath: key] } : nil)
  }
}
