import Foundation
import GRPCCore
@testable import PrivacyConsent
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Synchronization
import Testing

/// What only PostgreSQL has. The consent service's behaviour on PostgreSQL is the consent test
/// suites run a second time on it (`scripts/test`, `PRIVACY_TEST_CONSENT_STORE=postgres`).
@Suite("Consent on PostgreSQL", .enabled(if: PostgresTestDatabase.isAvailable))
struct ConsentOnPostgresTests {
  private func event(_ subject: String, after head: ChainHead) -> LedgerCommit {
    var commit = LedgerCommit(head: head, now: Date(), caller: CallerIdentity(actor: "test", role: "service", requestID: "r-1"))
    commit.append(EventDraft(subjectID: subject, kind: .restrictionChanged, evidence: Evidence(channel: .api, capturedAt: Date())))
    return commit
  }

  @Test("a commit made on a ledger head that is no longer the last fails whole: the chain cannot fork")
  func staleHead() async throws {
    try await PostgresTestDatabase.with { database in
      let first = try await PostgresConsentStore.open(try database.settings, logger: silentLogger)
      let second = try await PostgresConsentStore.open(try database.settings, logger: silentLogger)
      let winner = event("s-1", after: .empty)
      try await first.commit(winner)
      var loser = event("s-2", after: .empty)
      loser.subjectStates = ["s-2": SubjectState()]
      await #expect(throws: LedgerHeadMoved(expected: 0, found: 1)) { try await second.commit(loser) }
      #expect(try await second.events(EventQuery(limit: 10)).map(\.subjectID) == ["s-1"])
      #expect(try await second.subjectStates().states["s-2"] == nil)
      try await second.commit(event("s-2", after: winner.head))
      #expect(try await first.events(EventQuery(limit: 10)).map(\.sequence) == [1, 2])
    }
  }

  @Test("the kept states are read in chunks of the table's pages: every state once, as saved, rewritten ones as they are now")
  func statesInChunks() async throws {
    try await PostgresTestDatabase.with { database in
      let store = try await PostgresConsentStore.open(try database.settings, logger: silentLogger, statesChunkPages: 1)
      #expect(try await store.subjectStates().states.isEmpty)
      func state(_ index: Int, _ decision: Decision) -> SubjectState {
        var state = SubjectState()
        state.decisions["purpose-\(index % 7)"] = DecisionRecord(
          decision: decision, legalBasis: index % 2 == 0 ? nil : .contract, sequence: UInt64(index),
          decidedAt: Date(timeIntervalSince1970: Double(index)), noticeVersion: "v\(index % 3)")
        state.restrictionReason = String(repeating: "é", count: index % 50)
        state.lastSequence = UInt64(index)
        return state
      }
      var expected: [String: SubjectState] = [:]
      for index in 0..<1500 { expected["subject-\(index)"] = state(index, .granted) }
      try await store.saveSubjectStates(expected, replacingAll: false)
      // Rewritten rows move to later pages and leave dead ones behind.
      for index in stride(from: 0, to: 1500, by: 3) { expected["subject-\(index)"] = state(index, .withdrawn) }
      try await store.saveSubjectStates(expected.filter { $0.value.decisions.values.first?.decision == .withdrawn }, replacingAll: false)
      let pages = try #require(try await PostgresTestDatabase.rows(
        database.url, "SELECT (pg_relation_size('consent_subject_states') / 8192)::text").first?.first ?? nil)
      #expect((Int(pages) ?? 0) > 10, "the states span many chunks")
      #expect(try await store.subjectStates().states.mapValues { $0.unpacked() } == expected)
      let whole = try await PostgresConsentStore.open(try database.settings, logger: silentLogger)
      #expect(try await whole.subjectStates().states.mapValues { $0.unpacked() } == expected)
    }
  }

  @Test("the ledger refuses updates of what an event recorded, deletes and truncation")
  func appendOnly() async throws {
    try await PostgresTestDatabase.with { database in
      let store = try await PostgresConsentStore.open(try database.settings, logger: silentLogger)
      try await store.commit(event("s-1", after: .empty))
      for statement in [
        "UPDATE consent_events SET reason = 'edited'", "DELETE FROM consent_events", "TRUNCATE consent_events",
      ] {
        await #expect(throws: (any Error).self, "\(statement)") { try await PostgresTestDatabase.administer(database.url, statement) }
      }
      // Erasure may clear the personal evidence columns.
      try await PostgresTestDatabase.administer(database.url, "UPDATE consent_events SET ip_address = ''")
      #expect(try await store.events(EventQuery(limit: 10)).count == 1)
    }
  }

  /// Runs two replicas of the service on one database (clients `a` and `b`). With 600 s of
  /// staleness allowed their periodic catch-up comes every 150 s: what one answers within
  /// seconds of the other's write, it was told.
  private func withReplicas<T: Sendable>(
    _ database: PostgresTestDatabase, _ body: (_ a: ConsentClient, _ b: ConsentClient) async throws -> T
  ) async throws -> T {
    let fixture = try ConsentFixture(environment: ["DATABASE_URL": database.url, "REPLICA_MAX_STALENESS_MS": "600000"])
    return try await withRunningServer(try await fixture.makeServer()) { aPort in
      try await withRunningServer(try await fixture.makeServer()) { bPort in
        try await withTestClient(port: aPort) { a in
          try await withTestClient(port: bPort) { b in try await body(ConsentClient(wrapping: a), ConsentClient(wrapping: b)) }
        }
      }
    }
  }

  @Test("a decision recorded through one replica is answered by the other at once, and a purpose made on one is known to both")
  func following() async throws {
    try await PostgresTestDatabase.with { database in
      try await withReplicas(database) { a, b in
        try await a.upsert(purpose("newsletter"))
        #expect(try await elapsedUntil { (try? await b.check("c-0", "newsletter")) != nil } != nil)
        for index in 1...5 {
          let granted = try await a.record("c-\(index)", "newsletter", .granted)
          _ = try #require(try await elapsedUntil {
            let answer = try await b.check("c-\(index)", "newsletter")
            return answer.allowed && answer.eventSequence == granted.sequence
          })
          try await b.record("c-\(index)", "newsletter", .withdrawn)
          _ = try #require(try await elapsedUntil { try await !a.check("c-\(index)", "newsletter").allowed })
        }
      }
    }
  }

  @Test("writes through both replicas at once: every one acknowledged is in one chain that verifies on both")
  func concurrentWrites() async throws {
    try await PostgresTestDatabase.with { database in
      try await withReplicas(database) { a, b in
        try await a.upsert(purpose("newsletter"))
        _ = try await elapsedUntil { (try? await b.check("c-0", "newsletter")) != nil }
        let sequences = try await withThrowingTaskGroup(of: UInt64.self) { group in
          for index in 0..<40 {
            let client = index.isMultiple(of: 2) ? a : b
            // Some subjects written through both replicas, in any order.
            group.addTask { try await client.record("c-\(index % 25)", "newsletter", index % 3 == 0 ? .withdrawn : .granted).sequence }
          }
          return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(Set(sequences) == Set(1...40))
        for client in [a, b] {
          let verification = try await client.verify()
          #expect(verification.valid, "\(verification.problem)")
          #expect(verification.entriesChecked == 40)
          for index in 0..<25 { #expect(try await client.verify(subject: "c-\(index)").valid) }
        }
        #expect(try await b.allEvents().count == 40)
      }
    }
  }

  @Test("the smallest pool allowed (2: the LISTEN holds one, a write the other) takes concurrent writes")
  func smallestPool() async throws {
    try await PostgresTestDatabase.with { database in
      let fixture = try ConsentFixture(environment: ["DATABASE_URL": database.url, "DATABASE_POOL_SIZE": "2"])
      try await withRunningServer(try await fixture.makeServer()) { port in
        // A write that needed a second connection would wait forever here, and so would the
        // server's drain after it (the test pass's time limit names the test): the deadline only
        // fails the calls.
        try await withTestClient(port: port, deadline: .seconds(30)) { client in
          let consent = ConsentClient(wrapping: client)
          try await consent.upsert(purpose("newsletter"))
          let sequences = try await withThrowingTaskGroup(of: UInt64.self) { group in
            for index in 0..<12 { group.addTask { try await consent.record("c-\(index)", "newsletter", .granted).sequence } }
            return try await group.reduce(into: []) { $0.append($1) }
          }
          #expect(Set(sequences) == Set(1...12))
        }
      }
    }
  }

  @Test("a replica that lost its database refuses CheckConsent (UNAVAILABLE) and says NOT_SERVING, on Check and Watch, and answers again once it is back")
  func staleness() async throws {
    try await PostgresTestDatabase.with { database in
      let cluster = try #require(PostgresTestDatabase.clusterURL)
      let fixture = try ConsentFixture(environment: ["DATABASE_URL": database.url, "REPLICA_MAX_STALENESS_MS": "300"])
      try await withRunningServer(try await fixture.makeServer()) { port in
        try await withTestClient(port: port) { client in
          let consent = ConsentClient(wrapping: client)
          try await consent.upsert(purpose("newsletter"))
          #expect(try await elapsedUntil(within: .seconds(10)) { (try? await consent.check("c-1", "newsletter")) != nil } != nil)
          // How a client balancing over replicas sees it: the Watch stream of the server's health.
          // The server itself serves throughout, so NOT_SERVING there is the staleness alone; on a
          // machine busy with the whole suite a 300 ms staleness may also flap, so each status is
          // awaited among those the stream sent.
          try await Grpc_Health_V1_Health.Client(wrapping: client).watch(.init()) { watch in
            let seen = SeenStatuses()
            try await withThrowingTaskGroup(of: Void.self) { group in
              group.addTask { for try await message in watch.messages { seen.statuses.withLock { $0.append(message.status) } } }
              #expect(try await elapsedUntil(within: .seconds(10)) { seen.statuses.withLock { $0.contains(.serving) } } != nil)
              try await PostgresTestDatabase.administer(cluster, "ALTER DATABASE \(database.name) ALLOW_CONNECTIONS false")
              try await PostgresTestDatabase.administer(
                cluster, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '\(database.name)' AND pid <> pg_backend_pid()")
              let refused = try await elapsedUntil(within: .seconds(10)) { await capturedRPCError { try await consent.check("c-1", "newsletter") }?.code == .unavailable }
              #expect(refused != nil)
              #expect(await HealthProbe.check(ServiceAddress(host: "127.0.0.1", port: port)) == .notServing)
              #expect(try await elapsedUntil(within: .seconds(10)) { seen.statuses.withLock { $0.contains(.notServing) } } != nil)
              let outageSeen = seen.statuses.withLock { $0.lastIndex(of: .notServing) ?? $0.count }
              try await PostgresTestDatabase.administer(cluster, "ALTER DATABASE \(database.name) ALLOW_CONNECTIONS true")
              // The pool reconnects with a backoff that grew during the outage; on a machine busy with
              // the whole suite that has taken more than 15 s.
              #expect(try await elapsedUntil(within: .seconds(60)) { (try? await consent.check("c-1", "newsletter")) != nil } != nil)
              #expect(try await elapsedUntil(within: .seconds(10)) { seen.statuses.withLock { $0.dropFirst(outageSeen + 1).contains(.serving) } } != nil)
              group.cancelAll()
            }
          }
        }
      }
    }
  }
}

/// The statuses a health Watch stream sent so far.
private final class SeenStatuses: Sendable {
  let statuses = Mutex<[Grpc_Health_V1_HealthCheckResponse.ServingStatus]>([])
}
