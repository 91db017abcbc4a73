import GRPCCore
import PrivacyConsent
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Testing

@Suite("Where the change feed caught up")
struct FeedMarkerTests {
  /// The messages of a feed opened with `request` until `enough` holds of them; `meanwhile` runs
  /// once, when the first marker arrives.
  private func messages(
    _ client: ConsentClient, _ request: Privacy_Consent_V1_WatchConsentEventsRequest,
    until enough: @escaping @Sendable ([Privacy_Consent_V1_WatchConsentEventsResponse]) -> Bool,
    meanwhile: @escaping @Sendable () async throws -> Void = {}
  ) async throws -> [Privacy_Consent_V1_WatchConsentEventsResponse] {
    try await client.watchConsentEvents(request) { response in
      var received: [Privacy_Consent_V1_WatchConsentEventsResponse] = []
      for try await message in response.messages {
        received.append(message)
        if message.hasCaughtUp && received.filter(\.hasCaughtUp).count == 1 { try await meanwhile() }
        if enough(received) { break }
      }
      return received
    }
  }

  /// `count` messages.
  private func messages(
    _ client: ConsentClient, _ request: Privacy_Consent_V1_WatchConsentEventsRequest, count: Int
  ) async throws -> [Privacy_Consent_V1_WatchConsentEventsResponse] {
    try await messages(client, request, until: { $0.count == count })
  }

  @Test("with a heartbeat the feed marks each catch-up: after the replay, after each burst, after each quiet period")
  func markers() async throws {
    try await withConsentService { client, _ async throws in
      try await client.upsert(purpose("newsletter"))
      try await client.upsert(purpose("offers", category: .thirdPartySharing))
      try await client.record("c1", "newsletter", .granted)
      try await client.record("c2", "offers", .granted)
      @Sendable func listedDigest() async throws -> String {
        CatalogueDigest.of(purposes: try await client.listPurposes(.init()).purposes, lists: try await client.listMailingLists(.init()).lists)
      }
      let catalogue = try await listedDigest()

      // Until event 3 (written once the replay's marker came) and two markers after it: the
      // burst's and a quiet period's.
      let received = try await messages(client, .with { $0.heartbeatMilliseconds = 200 }, until: { received in
        guard let third = received.firstIndex(where: { $0.event.sequence == 3 }) else { return false }
        return received[third...].filter(\.hasCaughtUp).count == 2
      }) {
        try await client.record("c3", "newsletter", .denied)
      }
      let events = received.filter { !$0.hasCaughtUp }.map(\.event.sequence)
      #expect(events == [1, 2, 3])
      // Each marker names the last event sent before it, and one follows the replay.
      var last: UInt64 = 0
      for message in received {
        if message.hasCaughtUp {
          #expect(message.caughtUp.sequence == last)
          #expect(message.caughtUp.catalogueDigest == catalogue)
          #expect(!message.hasEvent)
        } else {
          last = message.event.sequence
        }
      }
      #expect(received.prefix(3).map(\.hasCaughtUp) == [false, false, true])

      // Filtered by purpose, the marker still names the last event of the ledger.
      let filtered = try await messages(client, .with {
        $0.purposeIds = ["offers"]
        $0.heartbeatMilliseconds = 100
      }, count: 2)
      #expect(filtered.map(\.event.sequence) == [2, 0])
      #expect(filtered.last?.caughtUp.sequence == 3)

      // A change of the catalogue (the clock has not moved) changes the marker's digest.
      _ = try await client.upsertMailingList(.with { $0.list = .with { $0.listID = "weekly"; $0.name = "Weekly" } })
      let after = try await messages(client, .with {
        $0.afterSequence = 3
        $0.heartbeatMilliseconds = 100
      }, count: 1)
      #expect(after.first?.caughtUp.catalogueDigest == (try await listedDigest()))
      #expect(after.first?.caughtUp.catalogueDigest != catalogue)
    }
  }

  @Test("without a heartbeat the feed sends events only; a heartbeat out of range is refused")
  func heartbeatRange() async throws {
    try await withConsentService { client, _ async throws in
      for milliseconds: UInt32 in [1, 99, 60_001] {
        let error = await #expect(throws: RPCError.self) {
          try await client.watchConsentEvents(.with { $0.heartbeatMilliseconds = milliseconds }) { response in
            for try await _ in response.messages {}
          }
        }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message == "heartbeat_milliseconds must be 0 or between 100 and 60000, got \(milliseconds)")
      }
    }
  }

  @Test("a follower resuming with after_hash is refused when the ledger does not hold that event as it does")
  func resumeWithHash() async throws {
    try await withConsentService { client, _ async throws in
      try await client.upsert(purpose("newsletter"))
      try await client.record("c1", "newsletter", .granted)
      let second = try await client.record("c2", "newsletter", .granted)
      // The right hash: the feed goes on from there (its first marker names event 2).
      let resumed = try await messages(client, .with {
        $0.afterSequence = 2
        $0.afterHash = second.hash
        $0.heartbeatMilliseconds = 100
      }, count: 1)
      #expect(resumed.first?.caughtUp.sequence == 2)
      for (sequence, hash) in [(UInt64(2), String(repeating: "0", count: 64)), (2, "not a hash"), (7, second.hash)] {
        let error = await #expect(throws: RPCError.self) {
          try await client.watchConsentEvents(.with {
            $0.afterSequence = sequence
            $0.afterHash = hash
          }) { response in
            for try await _ in response.messages {}
          }
        }
        #expect(error?.code == .failedPrecondition)
        #expect(error?.message.hasPrefix("the ledger's event \(sequence) is not the one after_hash names") == true)
      }
      let error = await #expect(throws: RPCError.self) {
        try await client.watchConsentEvents(.with { $0.afterHash = second.hash }) { response in
          for try await _ in response.messages {}
        }
      }
      #expect(error?.code == .invalidArgument && error?.message == "after_hash needs after_sequence")
    }
  }

  @Test("every answer names the ledger's last event in its trailers, a write's own event included")
  func ledgerSequenceTrailer() async throws {
    try await withConsentService { client, _ async throws in
      @Sendable func trailer(_ trailers: Metadata) -> String? {
        trailers[stringValues: MetadataKey.ledgerSequence].first { _ in true }
      }
      let emptyLedger = try await client.listPurposes(.init()) { response in trailer(response.trailingMetadata) }
      #expect(emptyLedger == "0")
      try await client.upsert(purpose("newsletter"))
      try await client.record("c1", "newsletter", .granted)
      let written = try await client.recordConsent(.with {
        $0.subjectID = "c2"
        $0.purposeID = "newsletter"
        $0.decision = .granted
        $0.evidence = evidence()
      }) { response in (try response.message.event.sequence, trailer(response.trailingMetadata)) }
      #expect(written.0 == 2)
      #expect(written.1 == "2")
    }
  }
}
