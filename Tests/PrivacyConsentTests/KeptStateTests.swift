import Foundation
import GRDB
@testable import PrivacyConsent
import PrivacyKit
import PrivacyTesting
import Testing

/// The subjects' states kept beside the ledger: written with every commit, read at start instead
/// of replaying history, rebuilt from the ledger when missing or unreadable, and checked against
/// the ledger by per-subject verification.
@Suite("Subject states kept with the ledger")
struct KeptStateTests {
  private func sampleState() -> SubjectState {
    var state = SubjectState()
    state.decisions["newsletter"] = DecisionRecord(
      decision: .granted, legalBasis: .consent, sequence: 3, decidedAt: Date(timeIntervalSince1970: 1_700_000_000.123456),
      noticeVersion: "v2")
    state.decisions["profiling"] = DecisionRecord(
      decision: .withdrawn, legalBasis: nil, sequence: 9, decidedAt: Date(timeIntervalSince1970: -5), noticeVersion: "")
    state.subscriptions["weekly"] = SubscriptionRecord(subscribed: false, sequence: 7)
    state.optInStatus = .doubleOptIn
    state.restricted = true
    state.restrictionReason = "accuracy contested: é ✓"
    state.age = .child
    state.lastSequence = 300
    return state
  }

  @Test("a state reads back as written, and damaged bytes are refused, never misread")
  func coding() throws {
    let state = sampleState()
    let bytes = state.encoded()
    #expect(try SubjectState(encoded: bytes) == state)
    #expect(try SubjectState(encoded: SubjectState().encoded()) == SubjectState())
    for length in 0..<bytes.count {
      #expect(throws: SubjectStateUnreadable.self) { try SubjectState(encoded: bytes.prefix(length)) }
    }
    #expect(throws: SubjectStateUnreadable.self) { try SubjectState(encoded: bytes + [0]) }
    for format: UInt8 in [0, 3] {
      #expect(throws: SubjectStateUnreadable.self) { try SubjectState(encoded: [format] + bytes.dropFirst()) }
    }
    // Enum codes no version wrote: the opt-in status follows the format byte and the two bytes
    // of sequence 300; the subject's age comes next.
    #expect(bytes[0] == 2 && bytes[3] == OptInStatus.doubleOptIn.code && bytes[4] == SubjectAge.child.code)
    for (position, code) in [(3, 0), (3, 7), (4, 0), (4, 99)] {
      var unknown = bytes
      unknown[position] = UInt8(code)
      #expect(throws: SubjectStateUnreadable.self) { try SubjectState(encoded: unknown) }
    }
    // Every case has its own code.
    #expect(Set(Decision.allCases.map(\.code)).count == Decision.allCases.count)
    #expect(Set(LegalBasis.allCases.map(\.code)).count == LegalBasis.allCases.count)
    #expect(Set(OptInStatus.allCases.map(\.code)).count == OptInStatus.allCases.count)
    #expect(Set(SubjectAge.allCases.map(\.code)).count == SubjectAge.allCases.count)
  }

  /// `sampleState()` as format 1 wrote it (enum values by name), before format 2.
  private static let formatOne = bytes(
    hex: "01ac020d646f75626c655f6f70745f696e056368696c64011a616363757261637920636f6e7465737465643a20c3a920e29c93020a6e6577736c6574746572"
      + "076772616e74656407636f6e73656e7403c0c480c1c1c482030276320970726f66696c696e670977697468647261776e0009c0e9cefdffffffffff0100"
      + "01067765656b6c790007")

  private static func bytes(hex: String) -> [UInt8] {
    let digits = Array(hex.utf8)
    return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(decoding: digits[$0..<($0 + 2)], as: UTF8.self), radix: 16)! }
  }

  @Test("states kept in format 1 (enum values by name) still read, packed too; damaged ones are refused")
  func formatOneRead() throws {
    let bytes = Self.formatOne
    #expect(try SubjectState(encoded: bytes) == sampleState())
    #expect(try PackedSubjectState(validating: bytes).facts(for: "newsletter") == sampleState().facts(for: "newsletter"))
    for length in 0..<bytes.count {
      #expect(throws: SubjectStateUnreadable.self) { try SubjectState(encoded: bytes.prefix(length)) }
    }
    // A name no version wrote.
    for name in ["double_opt_in", "consent"].map({ Array($0.utf8) }) {
      let at = try #require((0...(bytes.count - name.count)).first { Array(bytes[$0..<($0 + name.count)]) == name })
      var unknown = bytes
      unknown[at + name.count - 1] = UInt8(ascii: "x")
      #expect(throws: SubjectStateUnreadable.self) { try SubjectState(encoded: unknown) }
      #expect(throws: SubjectStateUnreadable.self) { try PackedSubjectState(validating: unknown) }
    }
  }

  @Test("memory's packed form refuses what decoding refuses, and answers what the state answers")
  func packed() throws {
    let state = sampleState()
    let packed = PackedSubjectState(state)
    #expect(packed.unpacked() == state)
    #expect(packed.lastSequence == 300)
    #expect(PackedSubjectState(SubjectState()).lastSequence == 0)
    for purposeID in ["newsletter", "profiling", "news", "unknown", nil] {
      #expect(packed.facts(for: purposeID) == state.facts(for: purposeID))
    }
    #expect(packed.facts(for: "profiling").record?.decision == .withdrawn)
    #expect(packed.facts(for: "news").record == nil)
    let bytes = state.encoded()
    #expect(try PackedSubjectState(validating: bytes) == packed)
    for length in 0..<bytes.count {
      #expect(throws: SubjectStateUnreadable.self) { try PackedSubjectState(validating: Array(bytes.prefix(length))) }
    }
    var unknownStatus = bytes
    unknownStatus[3] = 42
    #expect(throws: SubjectStateUnreadable.self) { try PackedSubjectState(validating: unknownStatus) }
    #expect(throws: SubjectStateUnreadable.self) { try PackedSubjectState(validating: bytes + [0]) }
  }

  /// The states the store keeps, unpacked.
  private func kept(_ store: SQLiteConsentStore) async throws -> [String: SubjectState] {
    try await store.subjectStates().states.mapValues { $0.unpacked() }
  }

  private func open(_ store: SQLiteConsentStore) async throws -> ConsentLedger {
    try await ConsentLedger.open(store: store, settings: ConsentSettings(publicBaseURL: "https://example.com", confirmationLifetime: 3600))
  }

  /// A ledger on a fresh file with a few subjects' history, through the ledger's own write path.
  private func filledLedger(_ directory: TestDirectory) async throws -> (ConsentLedger, SQLiteConsentStore) {
    let store = try SQLiteConsentStore(path: directory.path("consent.sqlite"), logger: silentLogger)
    let ledger = try await open(store)
    let caller = CallerIdentity(actor: "crm", role: "service", requestID: "r")
    for id in ["newsletter", "profiling"] {
      let draft = PurposeDraft(
        id: id, title: id, description: id, legalBasis: .consent, category: .emailMarketing, retentionDays: 30,
        noticeVersion: "v1", noticeText: "text", vaultFields: [])
      _ = try await ledger.upsertPurpose(draft, caller: caller)
    }
    for index in 0..<12 {
      let evidence = Evidence(channel: .webform, capturedAt: Date(timeIntervalSince1970: 1_700_000_000 + Double(index)))
      _ = try await ledger.recordConsent(
        subjectID: "s\(index % 4)", purposeID: index % 3 == 0 ? "profiling" : "newsletter",
        decision: index % 2 == 0 ? .granted : .withdrawn, evidence: evidence, legalBasis: nil, caller: caller)
    }
    _ = try await ledger.setRestriction(
      subjectID: "s1", restricted: true, reason: "contested", evidence: Evidence(channel: .api, capturedAt: Date()), caller: caller)
    return (ledger, store)
  }

  /// The state a ledger answers from for one subject.
  private func state(_ ledger: ConsentLedger, _ subject: String) throws -> SubjectState? {
    var filter = SubjectFilter()
    filter.includeErased = true
    let all = try ledger.listSubjects(filter, try PageRequest(size: 1000, token: "", scope: "test")).subjects
    return all.first { $0.0 == subject }?.1
  }

  /// The states a full replay of the stored ledger gives.
  private func replayed(_ store: SQLiteConsentStore) async throws -> [String: SubjectState] {
    var states: [String: SubjectState] = [:]
    for event in try await store.events(EventQuery(limit: 100_000)) { states[event.subjectID, default: SubjectState()].apply(event) }
    return states
  }

  private func edit(_ store: SQLiteConsentStore, _ sql: String, _ arguments: StatementArguments = []) async throws {
    try await store.database.write { try $0.execute(sql: sql, arguments: arguments) }
  }

  @Test("every commit keeps the states its events lead to, and a start reads them")
  func keptByCommits() async throws {
    let directory = try TestDirectory()
    defer { directory.remove() }
    let (ledger, store) = try await filledLedger(directory)
    let expected = try await replayed(store)
    #expect(expected.count == 4)
    #expect(try await kept(store) == expected)
    #expect(try state(ledger, "s1") == expected["s1"])

    // A start that reads the kept states: the ledger's rows are not replayed, so a kept state
    // edited behind the service's back is what a restarted service answers from...
    var edited = try #require(expected["s2"])
    edited.decisions["newsletter"]?.decision = .granted
    edited.decisions["newsletter"]?.legalBasis = .legitimateInterests
    try await store.saveSubjectStates(["s2": edited], replacingAll: false)
    let reopened = try await open(store)
    #expect(try state(reopened, "s2") == edited)
    // ...and verifying that subject, or the whole ledger, says its state does not follow from
    // its events (the whole ledger by the subject's last entry).
    let verification = try await reopened.verify(subjectID: "s2")
    #expect(!verification.valid && verification.problem.contains("does not follow"))
    #expect(try await reopened.verify(subjectID: "s1").valid)
    let whole = try await reopened.verify(subjectID: nil)
    #expect(!whole.valid && whole.firstBrokenSequence == edited.lastSequence && whole.problem.contains("does not follow"))

    // A state kept for a subject the ledger has no events for.
    try await store.saveSubjectStates(["s2": try #require(expected["s2"])], replacingAll: false)
    var stranger = SubjectState()
    stranger.decisions["newsletter"] = DecisionRecord(
      decision: .granted, legalBasis: .consent, sequence: 2, decidedAt: Date(timeIntervalSince1970: 0), noticeVersion: "v1")
    stranger.lastSequence = 2
    try await store.saveSubjectStates(["nobody": stranger], replacingAll: false)
    let withStranger = try await open(store)
    let strangerCheck = try await withStranger.verify(subjectID: nil)
    #expect(!strangerCheck.valid && strangerCheck.problem.contains("no events"))
    #expect(try await !withStranger.verify(subjectID: "nobody").valid)
  }

  @Test("more states than one batch of the start-up read, from two halves at once: every one is read once, as kept")
  func batches() async throws {
    let directory = try TestDirectory()
    defer { directory.remove() }
    let store = try SQLiteConsentStore(path: directory.path("consent.sqlite"), logger: silentLogger)
    var expected: [String: SubjectState] = [:]
    for index in 0..<45_001 {
      var state = SubjectState()
      state.optInStatus = index % 2 == 0 ? .doubleOptIn : .none
      state.lastSequence = UInt64(index + 1)
      expected["s\(index)"] = state
    }
    expected[""] = SubjectState()
    try await store.saveSubjectStates(expected, replacingAll: false)
    let loaded = try await store.subjectStates()
    #expect(loaded.lastSequence == 45_001)
    #expect(loaded.states.mapValues { $0.unpacked() } == expected)

    // The halves of a table of one state, or none.
    for single in [["": SubjectState()], ["only": SubjectState()], [:]] {
      let small = try SQLiteConsentStore(path: directory.path("small-\(single.keys.first ?? "none").sqlite"), logger: silentLogger)
      try await small.saveSubjectStates(single, replacingAll: false)
      #expect(try await small.subjectStates().states.mapValues { $0.unpacked() } == single)
    }
  }

  @Test("a ledger without kept states (the first start after the upgrade) is replayed once and its states written")
  func rebuiltWhenMissing() async throws {
    let directory = try TestDirectory()
    defer { directory.remove() }
    let (_, store) = try await filledLedger(directory)
    let expected = try await replayed(store)
    try await edit(store, "DELETE FROM subject_states")
    let reopened = try await open(store)
    #expect(try await kept(store) == expected)
    for (subject, kept) in expected { #expect(try state(reopened, subject) == kept) }
    let whole = try await reopened.verify(subjectID: nil)
    #expect(whole.valid && whole.entriesChecked == 13)
  }

  @Test("kept states behind the ledger catch up with the events after them")
  func caughtUp() async throws {
    let directory = try TestDirectory()
    defer { directory.remove() }
    let (_, store) = try await filledLedger(directory)
    let expected = try await replayed(store)
    // s1's restriction is the newest event: without its row the kept states end one event short,
    // and s1's earlier state is the one kept.
    let head = try #require(try await store.events(EventQuery(limit: 100_000)).last)
    #expect(head.subjectID == "s1")
    var older = try #require(expected["s1"])
    older.restricted = false
    older.restrictionReason = ""
    older.lastSequence = try #require(expected.values.filter { $0 != expected["s1"] }.map(\.lastSequence).max())
    try await store.saveSubjectStates(["s1": older], replacingAll: false)
    let reopened = try await open(store)
    #expect(try state(reopened, "s1") == expected["s1"])
    #expect(try await kept(store) == expected)
  }

  @Test("an unreadable kept state is rebuilt from the ledger; one past the ledger's end refuses the start")
  func damaged() async throws {
    let directory = try TestDirectory()
    defer { directory.remove() }
    let (_, store) = try await filledLedger(directory)
    let expected = try await replayed(store)
    try await edit(store, "UPDATE subject_states SET state = x'09' WHERE subject_id = 's0'")
    await #expect(throws: SubjectStateUnreadable.self) { try await store.subjectStates() }
    let reopened = try await open(store)
    #expect(try state(reopened, "s0") == expected["s0"])
    #expect(try await kept(store) == expected)

    var ahead = SubjectState()
    ahead.lastSequence = 10_000
    try await store.saveSubjectStates(["s9": ahead], replacingAll: false)
    await #expect(throws: LedgerCorruption(sequence: 10_000, column: "subject_states")) { () async throws in
      try await open(store)
    }
  }
}
