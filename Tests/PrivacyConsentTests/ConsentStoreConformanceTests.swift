import Foundation
@testable import PrivacyConsent
import PrivacyKit
import PrivacyTesting
import Testing

extension StoreKind {
  /// Runs `body` with a new, empty consent store of this kind.
  func withConsentStore<T: Sendable>(_ body: (any ConsentStore) async throws -> T) async throws -> T {
    try await withDatabase { database in
      switch database {
      case .sqlite(let path): try await body(try SQLiteConsentStore(path: path, logger: silentLogger))
      case .postgres(let settings): try await body(try await PostgresConsentStore.open(settings, logger: silentLogger))
      }
    }
  }
}

/// Every method of `ConsentStore`, its errors and its transactions, the same on each store. (The
/// consent service's behaviour suites also run on both stores: `scripts/test`.)
@Suite("Consent store conformance")
struct ConsentStoreConformanceTests {
  private static let caller = CallerIdentity(actor: "crm", role: "service", requestID: "r-1")
  private static let start = Date(timeIntervalSince1970: 1_800_000_000)

  private func commit(after head: ChainHead, _ fill: (inout LedgerCommit) -> Void) -> LedgerCommit {
    var commit = LedgerCommit(head: head, now: Self.start, caller: Self.caller)
    fill(&commit)
    return commit
  }

  private func decision(_ subject: String, _ purpose: String, _ decision: Decision, email: String = "") -> EventDraft {
    var draft = EventDraft(
      subjectID: subject, kind: .consentDecision,
      evidence: Evidence(channel: .webform, capturedAt: Self.start, emailAddress: email))
    draft.purposeID = purpose
    draft.decision = decision
    draft.legalBasis = .consent
    return draft
  }

  private func confirmation(_ id: String, _ subject: String, expiresIn seconds: TimeInterval) -> PrivacyConsent.Confirmation {
    PrivacyConsent.Confirmation(
      id: id, kind: .doubleOptIn, subjectID: subject, tokenHash: "hash-\(id)", emailAddress: "\(subject)@example.com", changes: [],
      formName: "signup", createdAt: Self.start, expiresAt: Self.start.addingTimeInterval(seconds), messageID: "m-\(id)",
      requestChannel: id == "late" ? .preferencePage : nil)
  }

  private func message(_ id: String, _ subject: String) -> OutboxMessage {
    OutboxMessage(
      id: id, kind: .doubleOptIn, subjectID: subject, emailAddress: "\(subject)@example.com", subjectLine: "Confirm",
      body: "Follow the link", link: "https://example.com/confirm/\(id)", preferenceURL: "https://example.com/p/\(id)",
      unsubscribeURL: "https://example.com/u/\(id)", createdAt: Self.start,
      expiresAt: Self.start.addingTimeInterval(3600))
  }

  @Test("purposes and mailing lists come back as committed", arguments: StoreKind.available)
  func catalogue(kind: StoreKind) async throws {
    try await kind.withConsentStore { store in
      let (purpose, _) = try PurposeDraft(
        id: "newsletter", title: "Newsletter", description: "Weekly news", legalBasis: .consent, category: .emailMarketing,
        retentionDays: 30, noticeVersion: "v1", noticeText: "We send news.", vaultFields: ["email"], subjectCategories: ["customers"],
        askWhen: try AskCondition(#"region == "EU""#)
      ).applied(to: nil, now: Self.start)
      let list = MailingList(id: "weekly", name: "Weekly", description: "", defaultSubscribed: true, createdAt: Self.start, updatedAt: Self.start)
      try await store.commit(commit(after: .empty) { $0.purposes = [purpose]; $0.lists = [list] })
      #expect(try await store.loadPurposes() == [purpose])
      #expect(try await store.loadMailingLists() == [list])
    }
  }

  @Test("events come back in sequence, by query, by number and by subject", arguments: StoreKind.available)
  func events(kind: StoreKind) async throws {
    try await kind.withConsentStore { store in
      let first = commit(after: .empty) {
        $0.append(decision("b", "newsletter", .granted))
        $0.append(decision("a", "analytics", .denied))
      }
      try await store.commit(first)
      let second = commit(after: first.head) { $0.append(decision("a", "newsletter", .withdrawn)) }
      try await store.commit(second)
      let all = first.events + second.events
      #expect(try await store.events(EventQuery(limit: 10)) == all)
      #expect(try await store.events(EventQuery(after: 1, limit: 1)) == [all[1]])
      #expect(try await store.events(EventQuery(subjectID: "a", limit: 10)).map(\.sequence) == [2, 3])
      #expect(try await store.events(EventQuery(purposeID: "newsletter", limit: 10)).map(\.sequence) == [1, 3])
      #expect(try await store.event(sequence: 3) == all[2])
      #expect(try await store.event(sequence: 4) == nil)
      #expect(try await store.eventsBySubject(after: nil, limit: 10).map(\.sequence) == [2, 3, 1])
      #expect(try await store.eventsBySubject(after: ("a", 2), limit: 10).map(\.sequence) == [3, 1])
      #expect(try await store.eventsBySubject(after: ("a", 3), limit: 1).map(\.sequence) == [1])
    }
  }

  @Test("a commit on a head that moved fails whole: no event, state, confirmation or message of it stays",
        arguments: StoreKind.available)
  func staleCommit(kind: StoreKind) async throws {
    try await kind.withConsentStore { store in
      let winner = commit(after: .empty) { $0.append(decision("a", "newsletter", .granted)) }
      try await store.commit(winner)
      var loser = commit(after: .empty) {
        $0.append(decision("b", "newsletter", .granted))
        $0.newConfirmations = [confirmation("c-1", "b", expiresIn: 60)]
        $0.outbox = [message("m-1", "b")]
        $0.preferenceLinks = [PreferenceLink(id: "l-1", subjectID: "b", tokenHash: "hash-l-1", createdAt: Self.start, expiresAt: Self.start)]
      }
      loser.subjectStates = ["b": SubjectState()]
      // PostgreSQL says LedgerHeadMoved (replicas race for the head); SQLite, one process per
      // file, refuses the duplicate sequence.
      await #expect(throws: (any Error).self) { try await store.commit(loser) }
      #expect(try await store.events(EventQuery(limit: 10)) == winner.events)
      #expect(try await store.subjectStates().states["b"] == nil)
      #expect(try await store.confirmation(tokenHash: "hash-c-1") == nil)
      #expect(try await store.outbox(after: 0, filter: .all, limit: 10).isEmpty)
      #expect(try await store.preferenceLink(tokenHash: "hash-l-1") == nil)
      #expect(try await store.exclusively { 42 } == 42)
    }
  }

  @Test("confirmations are found by token hash; lapsed double opt-ins are the expired, unused, unreplaced ones, oldest first",
        arguments: StoreKind.available)
  func confirmations(kind: StoreKind) async throws {
    try await kind.withConsentStore { store in
      let confirmations = [
        confirmation("late", "a", expiresIn: 300), confirmation("early", "b", expiresIn: 100), confirmation("used", "c", expiresIn: 100),
        confirmation("open", "d", expiresIn: 10_000),
      ]
      let first = commit(after: .empty) { $0.newConfirmations = confirmations }
      try await store.commit(first)
      #expect(try await store.confirmation(tokenHash: "hash-late") == confirmations[0])
      #expect(try await store.confirmation(tokenHash: "nothing") == nil)
      let used = commit(after: first.head) { $0.usedConfirmationID = "used" }
      try await store.commit(used)
      #expect(try await store.confirmation(tokenHash: "hash-used")?.usedAt != nil)
      let later = Self.start.addingTimeInterval(1000)
      #expect(try await store.lapsedDoubleOptIns(at: later, limit: 10).map(\.id) == ["early", "late"])
      #expect(try await store.lapsedDoubleOptIns(at: later, limit: 1).map(\.id) == ["early"])
      let lapsed = commit(after: used.head) { $0.lapsedConfirmationIDs = ["early"] }
      try await store.commit(lapsed)
      #expect(try await store.lapsedDoubleOptIns(at: later, limit: 10).map(\.id) == ["late"])
      let replaced = commit(after: lapsed.head) {
        $0.supersede = ("a", .doubleOptIn)
        $0.newConfirmations = [confirmation("newer", "a", expiresIn: 10_000)]
      }
      try await store.commit(replaced)
      #expect(try await store.confirmation(tokenHash: "hash-late")?.supersededAt != nil)
      #expect(try await store.lapsedDoubleOptIns(at: later, limit: 10).isEmpty)
    }
  }

  @Test("the outbox pages, acknowledges once (wiping body and links), and an unknown id acknowledges nothing",
        arguments: StoreKind.available)
  func outbox(kind: StoreKind) async throws {
    try await kind.withConsentStore { store in
      let footer = PreferenceLink(id: "l-1", subjectID: "a", tokenHash: "hash-l-1", createdAt: Self.start, expiresAt: Self.start)
      try await store.commit(commit(after: .empty) {
        $0.outbox = [message("m-1", "a"), message("m-2", "b"), message("m-3", "c")]
        $0.preferenceLinks = [footer]
      })
      #expect(try await store.preferenceLink(tokenHash: "hash-l-1") == footer)
      let listed = try await store.outbox(after: 0, filter: .pending, limit: 10)
      #expect(listed.map(\.id) == ["m-1", "m-2", "m-3"])
      #expect(listed[0].preferenceURL == "https://example.com/p/m-1" && listed[0].unsubscribeURL == "https://example.com/u/m-1")
      #expect(try await store.outbox(after: listed[0].position, filter: .pending, limit: 1).map(\.id) == ["m-2"])
      let ackedAt = Self.start.addingTimeInterval(5)
      #expect(try await store.ackOutbox(ids: ["m-1"], at: ackedAt) == 1)
      #expect(try await store.ackOutbox(ids: ["m-1"], at: ackedAt) == 0)
      await #expect(throws: ConsentError.outboxMessageNotFound("nope")) { try await store.ackOutbox(ids: ["m-2", "nope"], at: ackedAt) }
      #expect(try await store.outbox(after: 0, filter: .pending, limit: 10).map(\.id) == ["m-2", "m-3"])
      let acked = try #require(try await store.outbox(after: 0, filter: .all, limit: 10).first)
      #expect(acked.id == "m-1" && acked.ackedAt == ackedAt && acked.body.isEmpty && acked.link.isEmpty)
      #expect(acked.preferenceURL.isEmpty && acked.unsubscribeURL.isEmpty && acked.emailAddress.isEmpty)
    }
  }

  @Test("a lease hands each due message to one caller; a transient failure defers it, a permanent one fails it and wipes it",
        arguments: StoreKind.available)
  func outboxDelivery(kind: StoreKind) async throws {
    try await kind.withConsentStore { store in
      try await store.commit(commit(after: .empty) { $0.outbox = [message("m-1", "a"), message("m-2", "b"), message("m-3", "c")] })
      let now = Self.start
      let until = now.addingTimeInterval(60)
      let first = try await store.leaseOutbox(limit: 2, until: until, now: now)
      #expect(first.map(\.id) == ["m-1", "m-2"] && first.allSatisfy { $0.delivery.leasedUntil == until })
      #expect(try await store.leaseOutbox(limit: 10, until: until, now: now).map(\.id) == ["m-3"])
      #expect(try await store.leaseOutbox(limit: 10, until: until, now: now).isEmpty)

      let retryAt = now.addingTimeInterval(120)
      let deferred = try await store.reportOutboxFailure(
        try OutboxFailureReport(messageID: "m-1", failure: "421 4.3.2 <a@example.com> busy", permanent: false, retryAt: retryAt, now: now),
        at: now)
      #expect(deferred.delivery == OutboxDelivery(attempts: 1, nextAttemptAt: retryAt, lastFailure: "421 4.3.2 [address] busy"))
      #expect(deferred.emailAddress == "a@example.com" && !deferred.body.isEmpty)
      let failed = try await store.reportOutboxFailure(
        try OutboxFailureReport(messageID: "m-2", failure: "550 5.1.1 no such user", permanent: true, retryAt: nil, now: now), at: now)
      #expect(failed.delivery.failedAt == now && failed.delivery.attempts == 1 && failed.delivery.lastFailure == "550 5.1.1 no such user")
      #expect(failed.emailAddress.isEmpty && failed.body.isEmpty && failed.link.isEmpty && failed.preferenceURL.isEmpty)
      // A report on a failed or acknowledged message changes nothing.
      let again = try await store.reportOutboxFailure(
        try OutboxFailureReport(messageID: "m-2", failure: "451 later", permanent: false, retryAt: nil, now: now), at: now)
      #expect(again == failed)
      await #expect(throws: ConsentError.outboxMessageNotFound("nope")) {
        try await store.reportOutboxFailure(try OutboxFailureReport(messageID: "nope", failure: "x", permanent: true, retryAt: nil, now: now), at: now)
      }

      // m-3's lease ran out, m-1's retry time came: both due again; m-2 never.
      let later = retryAt.addingTimeInterval(1)
      #expect(try await store.leaseOutbox(limit: 10, until: later.addingTimeInterval(60), now: later).map(\.id) == ["m-1", "m-3"])
      #expect(try await store.outbox(after: 0, filter: .failed, limit: 10).map(\.id) == ["m-2"])
      #expect(try await store.outbox(after: 0, filter: .pending, limit: 10).map(\.id) == ["m-1", "m-3"])
      #expect(try await store.ackOutbox(ids: ["m-1"], at: later) == 1)
      #expect(try await store.outbox(after: 0, filter: .pending, limit: 10).map(\.id) == ["m-3"])
      #expect(try await store.outbox(after: 0, filter: .all, limit: 10).first?.delivery.leasedUntil == nil)
    }
  }

  @Test("erasure removes a subject's personal evidence, addresses and pending confirmations, and the counts say so",
        arguments: StoreKind.available)
  func erasure(kind: StoreKind) async throws {
    try await kind.withConsentStore { store in
      let first = commit(after: .empty) {
        $0.append(decision("a", "newsletter", .granted, email: "a@example.com"))
        $0.append(decision("a", "analytics", .granted))
        $0.append(decision("b", "newsletter", .granted, email: "b@example.com"))
        $0.outbox = [message("m-1", "a")]
        $0.newConfirmations = [confirmation("c-1", "a", expiresIn: 60)]
      }
      try await store.commit(first)
      #expect(try await store.personalDataCounts(subjectID: "a") == (events: 1, outboxMessages: 1))
      try await store.commit(commit(after: first.head) { $0.erasedSubjects = ["a"] })
      #expect(try await store.personalDataCounts(subjectID: "a") == (events: 0, outboxMessages: 0))
      #expect(try await store.personalDataCounts(subjectID: "b") == (events: 1, outboxMessages: 0))
      let erasedEvent = try #require(try await store.event(sequence: 1))
      #expect(erasedEvent.evidence.emailAddress.isEmpty && erasedEvent.personalDataSalt == nil)
      #expect(erasedEvent.personalDataDigest == first.events[0].personalDataDigest)
      #expect(try await store.confirmation(tokenHash: "hash-c-1")?.supersededAt != nil)
      #expect(try await store.outbox(after: 0, filter: .all, limit: 10).first?.emailAddress.isEmpty == true)
    }
  }

  @Test("subject attributes: replaced whole, empty when never set, deleted by erasure", arguments: StoreKind.available)
  func subjectAttributes(kind: StoreKind) async throws {
    try await kind.withConsentStore { store in
      #expect(try await store.subjectAttributes(subjectID: "a") == [:])
      try await store.setSubjectAttributes(subjectID: "a", attributes: ["region": "EU", "stage": "lead"], at: Self.start)
      try await store.setSubjectAttributes(subjectID: "b", attributes: ["region": "US"], at: Self.start)
      try await store.setSubjectAttributes(subjectID: "a", attributes: ["stage": "customer"], at: Self.start)
      #expect(try await store.subjectAttributes(subjectID: "a") == ["stage": "customer"])
      try await store.commit(commit(after: .empty) {
        $0.append(decision("b", "newsletter", .granted))
        $0.erasedSubjects = ["b"]
      })
      #expect(try await store.subjectAttributes(subjectID: "b") == [:])
      #expect(try await store.subjectAttributes(subjectID: "a") == ["stage": "customer"])
    }
  }

  @Test("preference links: found by token hash as kept, revoked once per subject, deleted by erasure",
        arguments: StoreKind.available)
  func preferenceLinks(kind: StoreKind) async throws {
    try await kind.withConsentStore { store in
      func link(_ id: String, _ subject: String, expiresIn seconds: TimeInterval) -> PreferenceLink {
        PreferenceLink(
          id: id, subjectID: subject, tokenHash: "hash-\(id)", createdAt: Self.start, expiresAt: Self.start.addingTimeInterval(seconds))
      }
      try await store.insertPreferenceLink(link("l-1", "a", expiresIn: 60))
      try await store.insertPreferenceLink(link("l-2", "a", expiresIn: -1))
      try await store.insertPreferenceLink(link("l-3", "b", expiresIn: 60))
      #expect(try await store.preferenceLink(tokenHash: "hash-l-1") == link("l-1", "a", expiresIn: 60))
      #expect(try await store.preferenceLink(tokenHash: "hash-unknown") == nil)
      // A token hash is unique: a second link with it is refused and the first stays.
      await #expect(throws: (any Error).self) { try await store.insertPreferenceLink(link("l-1", "b", expiresIn: 60)) }

      let revokedAt = Self.start.addingTimeInterval(5)
      #expect(try await store.revokePreferenceLinks(subjectID: "a", at: revokedAt) == 2)
      #expect(try await store.revokePreferenceLinks(subjectID: "a", at: revokedAt.addingTimeInterval(1)) == 0)
      #expect(try await store.preferenceLink(tokenHash: "hash-l-1")?.revokedAt == revokedAt)
      #expect(try await store.preferenceLink(tokenHash: "hash-l-3")?.revokedAt == nil)

      try await store.commit(commit(after: .empty) {
        $0.append(decision("b", "newsletter", .granted))
        $0.erasedSubjects = ["b"]
      })
      #expect(try await store.preferenceLink(tokenHash: "hash-l-3") == nil)
      #expect(try await store.preferenceLink(tokenHash: "hash-l-2") != nil)

      // Closed links (revoked, or expired by then) go, a batch at a time; open ones stay.
      try await store.insertPreferenceLink(link("l-4", "c", expiresIn: 60))
      try await store.insertPreferenceLink(link("l-5", "c", expiresIn: 3600))
      let later = Self.start.addingTimeInterval(120)
      #expect(try await store.deleteClosedPreferenceLinks(at: later, limit: 2) == 2)
      #expect(try await store.deleteClosedPreferenceLinks(at: later, limit: 2) == 1)
      #expect(try await store.deleteClosedPreferenceLinks(at: later, limit: 2) == 0)
      #expect(try await store.preferenceLink(tokenHash: "hash-l-5") != nil)
      #expect(try await store.preferenceLink(tokenHash: "hash-l-4") == nil)
    }
  }

  @Test("kept states: written with commits and on their own, replaced whole, unreadable ones refused",
        arguments: StoreKind.available)
  func keptStates(kind: StoreKind) async throws {
    try await kind.withConsentStore { store in
      var granted = SubjectState()
      granted.apply(commit(after: .empty) { $0.append(decision("a", "newsletter", .granted)) }.events[0])
      var first = commit(after: .empty) { $0.append(decision("a", "newsletter", .granted)) }
      first.subjectStates = ["a": granted]
      try await store.commit(first)
      var kept = try await store.subjectStates()
      #expect(kept.states.mapValues { $0.unpacked() } == ["a": granted] && kept.lastSequence == 1)
      var other = SubjectState()
      other.lastSequence = 1
      try await store.saveSubjectStates(["b": other], replacingAll: false)
      kept = try await store.subjectStates()
      #expect(kept.states.mapValues { $0.unpacked() } == ["a": granted, "b": other])
      try await store.saveSubjectStates(["c": other], replacingAll: true)
      #expect(try await store.subjectStates().states.mapValues { $0.unpacked() } == ["c": other])
    }
  }
}
