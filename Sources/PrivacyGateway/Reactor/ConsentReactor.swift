import Foundation
import GRPCCore
import Logging
import PrivacyKit
import PrivacyProtocol
import Synchronization

/// Makes what a consent decision means for the vault follow the ledger, whichever path recorded
/// it (RecordConsent, BulkUpdate, a confirmed preference change, WithdrawConsent, CreateContact,
/// an import): a DENIED or WITHDRAWN decision on a DATA_STORAGE purpose erases and locks the
/// fields the purpose covers; a GRANTED one after them unlocks the fields again. A restriction of
/// processing (art 18) imposed or lifted in the ledger (by StopProcessing, or by the person from
/// their own page) is mirrored to the vault record. A record restricted when the erasure came
/// (the vault refuses it) is erased when the restriction is lifted. A contact that waits for its
/// double opt-in (a pending vault record) is released when the person confirms (and a re-entry
/// through their own webform held for it is applied) and discarded when the link expires
/// unconfirmed.
///
/// It follows `WatchConsentEvents` from a cursor kept in the gateway's database, so a restart
/// or a lost connection resumes where it stopped. Each step is idempotent and applies only the
/// subject's latest decision for the purpose (an older event replayed, or read late after the
/// subject changed their mind, does nothing). With several gateways on one database, a lease
/// lets one of them react at a time. Every step it takes is audited write-ahead (intent, then
/// outcome) as the actor `gateway` in the role `consent-reactor`.
final class ConsentReactor: ServerCompanion {
  static let name = "consent-consequences"
  static let role = "consent-reactor"
  /// How long the lease lasts unless renewed; it is renewed every third of that.
  static let leaseDuration = Duration.seconds(15)
  /// Positions of events needing no step are saved this often (a replay of them is harmless).
  static let idleSaveInterval: UInt64 = 1000

  private let gateway: Gateway
  private let store: any ReactorStore
  private let holder = UUID().uuidString.lowercased()
  private let logger: Logger
  private let running = StoppableLoop()
  private let purposes = PurposeCatalogue()

  init(gateway: Gateway, store: any ReactorStore, logger: Logger) {
    self.gateway = gateway
    self.store = store
    self.logger = logger
  }

  func run() async throws {
    await running.run { await self.loop() }
  }

  func stop() { running.stop() }

  // MARK: Following the ledger

  /// Takes the lease and follows the ledger until stopped, retrying with backoff after any
  /// failure (the consent service down, the audit log unwritable, the lease lost).
  private func loop() async {
    var backoff = Backoff(ceiling: .seconds(5))
    while !Task.isCancelled {
      do {
        if try await renewLease() {
          try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.follow() }
            group.addTask { try await self.keepLease() }
            try await group.next()
            group.cancelAll()
          }
          backoff.reset()
        } else {
          try await Task.sleep(for: Self.leaseDuration / 3)
        }
      } catch {
        if Task.isCancelled { break }
        logger.warning(
          "consent reactor interrupted; resuming from its cursor",
          metadata: ["error.type": "\(type(of: error))", "rpc.code": "\((error as? RPCError)?.code.description ?? "")"])
        try? await Task.sleep(for: backoff.next())
      }
    }
    // Given up at once so that another gateway need not wait for it to expire; from a task of
    // its own, since this one is cancelled and the store would refuse to start the write.
    let store = self.store
    let holder = self.holder
    await Task { try? await store.releaseLease(Self.name, holder: holder) }.value
  }

  private func renewLease() async throws -> Bool {
    let now = Date()
    return try await store.acquireLease(Self.name, holder: holder, now: now, until: now + Self.leaseDuration.timeInterval)
  }

  /// Renews the lease until it is lost (another gateway took it after this one failed to renew).
  private func keepLease() async throws {
    while true {
      try await Task.sleep(for: Self.leaseDuration / 3)
      guard try await renewLease() else { throw LeaseLost() }
    }
  }

  private struct LeaseLost: Error {}

  /// Replays the ledger after the cursor and follows it live, applying each event's step.
  private func follow() async throws {
    let start = try await store.cursor(Self.name)
    let metadata = CallerIdentity(actor: "gateway", role: Self.role, requestID: UUID().uuidString.lowercased())
      .metadata(internalToken: gateway.settings.internalToken)
    var options = CallOptions.defaults
    options.waitForReady = false
    try await gateway.backends[.consent].serverStreaming(
      Privacy_Consent_V1_WatchConsentEventsRequest.with { $0.afterSequence = start },
      method: Privacy_Consent_V1_ConsentService.Method.WatchConsentEvents.descriptor, metadata: metadata, options: options
    ) { (messages: RPCAsyncSequence<Privacy_Consent_V1_WatchConsentEventsResponse, any Error>) in
      var saved = start
      for try await message in messages {
        let event = message.event
        let context = self.context()
        if try await self.react(to: event, context: context) || event.sequence - saved >= Self.idleSaveInterval {
          try await self.store.saveCursor(Self.name, event.sequence)
          saved = event.sequence
        }
      }
    }
  }

  /// A workflow context acting as the reactor, with the workflow deadline for one step.
  private func context() -> WorkflowContext {
    gateway.systemContext(
      role: Self.role, method: Privacy_Consent_V1_ConsentService.Method.WatchConsentEvents.descriptor.fullyQualifiedMethod,
      budget: gateway.settings.workflowTimeout)
  }

  // MARK: Steps

  /// Applies the event's step if it has one; true when a step was applied.
  private func react(to event: Privacy_Consent_V1_ConsentEvent, context: WorkflowContext) async throws -> Bool {
    switch event.kind {
    case .consentDecision: try await react(toDecision: event, context: context)
    case .restrictionChanged: try await react(toRestriction: event, context: context)
    case .optInStatusChanged where event.optInStatus == .doubleOptIn: try await react(toConfirmedOptIn: event, context: context)
    case .doubleOptInExpired: try await react(toExpiredOptIn: event, context: context)
    default: false
    }
  }

  /// A confirmed double opt-in releases the contact's pending record (nothing changes when it is
  /// not pending), and applies a re-entry through the person's own webform held for it: the
  /// blocklist entries the record's identifiers match are removed.
  private func react(toConfirmedOptIn event: Privacy_Consent_V1_ConsentEvent, context: WorkflowContext) async throws -> Bool {
    let reason = "double opt-in confirmed (ledger event \(event.sequence))"
    try await context.auditedStep(VaultMethod.ReleaseRecord.self, .with {
      $0.subjectID = event.subjectID
      $0.reason = reason
    }, subjectID: event.subjectID, reason: reason)
    guard try await store.isReentryHeld(event.subjectID) else { return true }
    let reentry = ReentryCheck(context: context)
    let identifiers = try await reentry.identifiers(ofSubject: event.subjectID, reason: "\(reason): re-entry check") ?? []
    let matches = try await reentry.matches(identifiers)
    if !matches.isEmpty {
      let removal = ReentryCheck.ownWebformRemoval(matches, of: identifiers, confirmation: reason)
      try await context.auditedStep(BlocklistMethod.Remove.self, removal, subjectID: event.subjectID, reason: removal.reason)
    }
    try await store.dropReentry(event.subjectID)
    return true
  }

  /// A double opt-in link expired unconfirmed: the contact's record, still pending, is erased;
  /// unless a newer double opt-in was started or confirmed since (the person signed up again),
  /// or the record was released meanwhile (the vault refuses: RECORD_NOT_PENDING).
  private func react(toExpiredOptIn event: Privacy_Consent_V1_ConsentEvent, context: WorkflowContext) async throws -> Bool {
    guard let state = try await context.consentState(subjectID: event.subjectID), !state.erased else { return false }
    let later = try await context.consentEvents(subjectID: event.subjectID).contains { later in
      later.sequence > event.sequence
        && (later.kind == .doubleOptInStarted || (later.kind == .optInStatusChanged && later.optInStatus == .doubleOptIn))
    }
    guard !later else { return false }
    let reason = "double opt-in expired unconfirmed (ledger event \(event.sequence))"
    try await context.auditedStep(VaultMethod.ErasePersonalData.self, .with {
      $0.subjectID = event.subjectID
      $0.reason = reason
      $0.onlyIfPending = true
    }, subjectID: event.subjectID, reason: reason)
    // A re-entry held for the confirmation lapses with it: the blocklist entries stay.
    try await store.dropReentry(event.subjectID)
    return true
  }

  /// A decision on a storage purpose: erase and lock on DENIED or WITHDRAWN, unlock on a GRANTED
  /// that follows one; only when it is still the subject's latest decision for the purpose.
  private func react(toDecision event: Privacy_Consent_V1_ConsentEvent, context: WorkflowContext) async throws -> Bool {
    guard event.decision != .unspecified, let purpose = try await purposes.purpose(event.purposeID, context), purpose.isStorage,
      let decisions = try await decisions(of: event.subjectID, context: context),
      decisions.last(where: { $0.purposeID == event.purposeID })?.sequence == event.sequence
    else { return false }
    let verb = event.decision == .granted ? "granted" : event.decision == .denied ? "denied" : "withdrawn"
    let reason = "consent to storage purpose \(purpose.purposeID) \(verb) (ledger event \(event.sequence))"
    guard event.decision == .granted else {
      try await erase(purpose, subjectID: event.subjectID, reason: reason, context: context)
      return true
    }
    // Only a grant after a denial or withdrawal has locked fields to unlock.
    let earlier = decisions.last { $0.purposeID == event.purposeID && $0.sequence < event.sequence }
    guard earlier?.decision == .denied || earlier?.decision == .withdrawn else { return false }
    try await context.auditedStep(VaultMethod.UnlockFields.self, .with {
      $0.subjectID = event.subjectID
      $0.fields = purpose.vaultFields
      $0.reason = reason
    }, subjectID: event.subjectID, reason: reason)
    return true
  }

  /// A restriction imposed or lifted: the vault record follows, when the event still says how the
  /// subject stands (a restriction lifted since is not imposed again). Setting the record's current
  /// state again changes nothing there, so StopProcessing, which restricts the record itself
  /// first, is not disturbed. A lift then applies the erasures the restricted record refused:
  /// storage consents withdrawn or denied meanwhile.
  private func react(toRestriction event: Privacy_Consent_V1_ConsentEvent, context: WorkflowContext) async throws -> Bool {
    guard let state = try await context.consentState(subjectID: event.subjectID), !state.erased, state.restricted == event.restricted
    else { return false }
    let reason = "processing \(event.restricted ? "restricted" : "released") in the consent ledger (ledger event \(event.sequence))"
    try await context.auditedStep(VaultMethod.SetRestriction.self, .with {
      $0.subjectID = event.subjectID
      $0.restricted = event.restricted
      $0.reason = reason
    }, subjectID: event.subjectID, reason: reason)
    guard !event.restricted, let decisions = try await decisions(of: event.subjectID, context: context) else { return true }
    for purpose in try await purposes.storagePurposes(context) {
      guard let latest = decisions.last(where: { $0.purposeID == purpose.purposeID }), latest.decision == .denied || latest.decision == .withdrawn
      else { continue }
      try await erase(purpose, subjectID: event.subjectID, reason: "restriction lifted (ledger event \(event.sequence)): consent to "
        + "storage purpose \(purpose.purposeID) ended (ledger event \(latest.sequence))", context: context)
    }
    return true
  }

  /// The subject's decisions, oldest first; nil for an erased subject (the vault record went with it).
  private func decisions(of subjectID: String, context: WorkflowContext) async throws -> [Privacy_Consent_V1_ConsentEvent]? {
    guard let state = try await context.consentState(subjectID: subjectID), !state.erased else { return nil }
    return try await context.consentEvents(subjectID: subjectID).filter { $0.kind == .consentDecision }
  }

  private func erase(_ purpose: Privacy_Consent_V1_Purpose, subjectID: String, reason: String, context: WorkflowContext) async throws {
    try await context.auditedStep(VaultMethod.EraseFields.self, .with {
      $0.subjectID = subjectID
      $0.fields = purpose.vaultFields
      $0.lock = true
      $0.reason = reason
    }, subjectID: subjectID, reason: reason)
  }
}

/// The consent service's purposes, read again when an event names one not yet known or the copy
/// is older than `maximumAge` (a purpose's category and fields can change).
private final class PurposeCatalogue: Sendable {
  static let maximumAge = Duration.seconds(30)
  private let known = Mutex<(purposes: [String: Privacy_Consent_V1_Purpose], readAt: ContinuousClock.Instant?)>(([:], nil))

  func purpose(_ id: String, _ context: WorkflowContext) async throws -> Privacy_Consent_V1_Purpose? {
    let fresh = known.withLock { known -> Privacy_Consent_V1_Purpose? in
      guard let readAt = known.readAt, ContinuousClock.now - readAt < Self.maximumAge else { return nil }
      return known.purposes[id]
    }
    if let fresh { return fresh }
    return try await read(context)[id]
  }

  /// Every DATA_STORAGE purpose that names vault fields.
  func storagePurposes(_ context: WorkflowContext) async throws -> [Privacy_Consent_V1_Purpose] {
    let cached = known.withLock { known -> [String: Privacy_Consent_V1_Purpose]? in
      guard let readAt = known.readAt, ContinuousClock.now - readAt < Self.maximumAge else { return nil }
      return known.purposes
    }
    let purposes: [String: Privacy_Consent_V1_Purpose]
    if let cached { purposes = cached } else { purposes = try await read(context) }
    return purposes.values.filter(\.isStorage).sorted { $0.purposeID < $1.purposeID }
  }

  private func read(_ context: WorkflowContext) async throws -> [String: Privacy_Consent_V1_Purpose] {
    let purposes = try await context.purposes()
    known.withLock { $0 = (purposes, .now) }
    return purposes
  }
}

extension Privacy_Consent_V1_Purpose {
  /// A DATA_STORAGE purpose naming the vault fields its consent covers.
  var isStorage: Bool { category == .dataStorage && !vaultFields.isEmpty }
}

extension Duration {
  /// The duration in seconds, for `Date` arithmetic.
  var timeInterval: TimeInterval {
    let (seconds, attoseconds) = components
    return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
  }
}
