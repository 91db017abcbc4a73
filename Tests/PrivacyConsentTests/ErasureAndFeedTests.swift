import Foundation
import GRPCCore
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Testing

@Suite("Erasure, restriction, the change feed and restarts")
struct ErasureAndFeedTests {
  @Test("erasure withdraws everything and removes personal evidence while the chain verifies")
  func erasure() async throws {
    try await withConsentService { client, fixture async throws in
      try await client.upsert(purpose("newsletter"))
      try await client.upsert(purpose("offers"))
      try await client.record("c1", "newsletter", .granted, evidence: evidence(ip: "198.51.100.77", userAgent: "UniqueAgent/9.9"))
      try await client.record("c1", "offers", .granted)
      try await client.record("c2", "newsletter", .granted, evidence: evidence(ip: "192.0.2.55"))
      _ = try await client.startDoubleOptIn(.with {
        $0.subjectID = "c1"
        $0.emailAddress = "erase-me@example.com"
      })
      let link = try #require(try await client.pendingOutbox().first).link

      let outcome = try await client.eraseSubject(.with {
        $0.subjectID = "c1"
        $0.reason = "erasure request r-1"
      })
      #expect(!outcome.alreadyErased && outcome.purposesWithdrawn == 2)
      #expect(outcome.eventsScrubbed == 3 && outcome.outboxMessagesScrubbed == 1)
      #expect(outcome.event.kind == .subjectErased)

      let events = try await client.allEvents(subject: "c1")
      #expect(events.allSatisfy { $0.evidence.ipAddress.isEmpty && $0.evidence.userAgent.isEmpty && $0.evidence.emailAddress.isEmpty })
      #expect(events.filter(\.evidence.personalDataErased).count == 3)
      #expect(events.filter { $0.decision == .withdrawn }.count == 2)
      #expect(events.first?.evidence.hasCapturedAt == true)  // the fact and time of each decision stay
      #expect(try await client.allEvents(subject: "c2").first?.evidence.ipAddress == "192.0.2.55")
      #expect(try await client.pendingOutbox().first?.emailAddress == "")

      #expect(try await client.verify().valid)
      #expect(try await client.verify(subject: "c1").valid)
      let answer = try await client.check("c1", "newsletter")
      #expect(!answer.allowed && answer.reason == .erased)

      // The clear values are gone from the files, not just hidden.
      let files = SQLiteDatabase.files(of: fixture.databasePath)
      for value in ["198.51.100.77", "UniqueAgent/9.9", "erase-me@example.com"] {
        #expect(!filesContain(files, value), "\(value)")
      }

      // Later writes are refused; the pending link no longer works; erasing again is harmless.
      let write = await capturedRPCError { try await client.record("c1", "newsletter", .granted) }
      #expect(write?.code == .failedPrecondition && write?.errorInfoReason == "SUBJECT_ERASED")
      let confirm = await capturedRPCError { try await client.confirmDoubleOptIn(.with { $0.token = try token(in: link) }) }
      #expect(confirm?.code == .failedPrecondition)
      let again = try await client.eraseSubject(.with {
        $0.subjectID = "c1"
        $0.reason = "repeat"
      })
      #expect(again.alreadyErased && !again.hasEvent)
    }
  }

  @Test("erasing a subject the ledger never saw still records it and refuses later writes")
  func eraseUnknown() async throws {
    try await withConsentService { client, _ async throws in
      try await client.upsert(purpose("newsletter"))
      let outcome = try await client.eraseSubject(.with {
        $0.subjectID = "ghost"
        $0.reason = "request r-2"
      })
      #expect(!outcome.alreadyErased && outcome.purposesWithdrawn == 0)
      let error = await capturedRPCError { try await client.record("ghost", "newsletter", .granted) }
      #expect(error?.errorInfoReason == "SUBJECT_ERASED")
      let reason = await capturedRPCError { try await client.eraseSubject(.with { $0.subjectID = "x" }) }
      #expect(reason?.code == .invalidArgument)
    }
  }

  @Test("restriction is a ledger event, needs a reason, and changes nothing when repeated")
  func restriction() async throws {
    try await withConsentService { client, _ async throws in
      let set = try await client.setProcessingRestriction(.with {
        $0.subjectID = "c1"
        $0.restricted = true
        $0.reason = "accuracy contested"
      })
      #expect(set.event.kind == .restrictionChanged && set.event.restricted && set.event.reason == "accuracy contested")
      let again = try await client.setProcessingRestriction(.with {
        $0.subjectID = "c1"
        $0.restricted = true
        $0.reason = "again"
      })
      #expect(!again.hasEvent)
      let error = await capturedRPCError { try await client.setProcessingRestriction(.with { $0.subjectID = "c1"; $0.restricted = false }) }
      #expect(error?.code == .invalidArgument)
      let state = try await client.getConsentState(.with { $0.subjectID = "c1" }).state
      #expect(state.restricted && state.restrictionReason == "accuracy contested")
    }
  }

  @Test("the change feed replays from a sequence, then streams live events, filtered by purpose")
  func watch() async throws {
    try await withConsentService { client, _ async throws in
      try await client.upsert(purpose("newsletter"))
      try await client.upsert(purpose("offers"))
      try await client.record("c1", "newsletter", .granted)
      try await client.record("c1", "offers", .granted)
      try await client.record("c2", "newsletter", .granted)

      let received = try await withThrowingTaskGroup(of: [UInt64].self) { group in
        group.addTask {
          try await client.watchConsentEvents(.with {
            $0.afterSequence = 1
            $0.purposeIds = ["newsletter"]
          }) { response in
            var sequences: [UInt64] = []
            for try await message in response.messages {
              sequences.append(message.event.sequence)
              if sequences.count == 2 { break }
            }
            return sequences
          }
        }
        try await Task.sleep(for: .milliseconds(300))
        try await client.record("c3", "offers", .granted)  // filtered out
        try await client.record("c3", "newsletter", .granted)
        let result = try await group.next() ?? []
        group.cancelAll()
        return result
      }
      #expect(received == [3, 5])
    }
  }

  @Test("after a restart every answer is the same")
  func restart() async throws {
    let fixture = try ConsentFixture()
    let before = try await fixture.run { client async throws in
      try await client.upsert(purpose("newsletter"))
      try await client.upsert(purpose("analytics", basis: .legitimateInterests, category: .engagementTracking))
      try await client.record("c1", "newsletter", .granted)
      try await client.record("c1", "analytics", .withdrawn)
      _ = try await client.setOptIn("c1", .optOutContact, by: .contact)
      _ = try await client.upsertMailingList(.with { $0.list = .with { $0.listID = "news"; $0.name = "News" } })
      _ = try await client.subscribe(.with { $0.subjectID = "c1"; $0.listID = "news"; $0.evidence = evidence() })
      return try await client.getConsentState(.with { $0.subjectID = "c1" }).state
    }
    try await fixture.run { client async throws in
      #expect(try await client.getConsentState(.with { $0.subjectID = "c1" }).state == before)
      #expect(try await client.check("c1", "newsletter").allowed)
      #expect(!(try await client.check("c1", "analytics").allowed))
      #expect(try await client.verify().valid)
      #expect(try await client.listSubscriptions(.with { $0.subjectID = "c1" }).subscriptions.first?.subscribed == true)
      // The chain continues where it stopped.
      let next = try await client.record("c2", "newsletter", .granted)
      #expect(next.sequence == 5)
      #expect(try await client.verify().valid)
    }
  }
}
