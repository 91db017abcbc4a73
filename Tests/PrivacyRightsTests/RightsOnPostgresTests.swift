import Foundation
import GRPCCore
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Testing

/// Replicas of the subject-rights service on one PostgreSQL database. The service's behaviour on
/// PostgreSQL is the rights test suites run a second time on it (`scripts/test`,
/// `PRIVACY_TEST_RIGHTS_STORE=postgres`).
@Suite("Subject rights on PostgreSQL", .enabled(if: PostgresTestDatabase.isAvailable))
struct RightsOnPostgresTests {
  /// Runs two replicas of the service on one database (clients `a` and `b`) sharing the
  /// fixture's clock. With 600 s of staleness allowed their periodic catch-up comes every 150 s:
  /// what one knows within seconds of the other's write, it was told.
  private func withReplicas<T: Sendable>(
    _ body: (_ a: RightsClient, _ b: RightsClient, _ fixture: RightsFixture) async throws -> T
  ) async throws -> T {
    try await PostgresTestDatabase.with { database in
      let fixture = try RightsFixture(environment: ["DATABASE_URL": database.url, "REPLICA_MAX_STALENESS_MS": "600000"])
      let identity = CallerIdentity(actor: "dpo-anna", role: "dpo", requestID: "call-1")
      return try await withRunningServer(try await fixture.makeServer()) { aPort in
        try await withRunningServer(try await fixture.makeServer()) { bPort in
          try await withTestClient(port: aPort, identity: identity) { a in
            try await withTestClient(port: bPort, identity: identity) { b in
              try await body(RightsClient(wrapping: a), RightsClient(wrapping: b), fixture)
            }
          }
        }
      }
    }
  }

  @Test("one idempotency key opens one request, whichever replicas the retries reach, all at once")
  func idempotencyAcrossReplicas() async throws {
    try await withReplicas { a, b, _ in
      let ids = try await withThrowingTaskGroup(of: String.self) { group in
        for index in 0..<20 {
          let client = index.isMultiple(of: 2) ? a : b
          group.addTask { try await client.open(key: "crm-ticket-4711").requestID }
        }
        return try await group.reduce(into: Set<String>()) { $0.insert($1) }
      }
      #expect(ids.count == 1)
      #expect(try await b.listRequests(.with { $0.pageSize = 100 }).requests.count == 1)
    }
  }

  @Test("steps recorded on one request through both replicas at once are all kept: no write overwrites another")
  func noLostUpdates() async throws {
    try await withReplicas { a, b, _ in
      let id = try await a.inProgress(right: .erasure).requestID
      try await withThrowingTaskGroup(of: Void.self) { group in
        for index in 0..<16 {
          let client = index.isMultiple(of: 2) ? a : b
          group.addTask { try await client.step(id, "step_\(index)", .done) }
        }
        try await group.waitForAll()
      }
      let steps = try await a.get(id).steps.map(\.name)
      #expect(Set(steps) == Set((0..<16).map { "step_\($0)" }))
    }
  }

  @Test("an artifact stored through one replica is purged by the other when it expires")
  func retentionFollowsReplicas() async throws {
    try await withReplicas { a, b, fixture in
      var bundle = exportBundle(0)
      bundle.content = Data("REPLICA-EXPORT-MARKER-0815".utf8) + Data(repeating: 0x2A, count: 100)
      let id = try await a.inProgress().requestID
      _ = try await a.complete(id, artifact: bundle)
      #expect(try await fixture.holds("REPLICA-EXPORT-MARKER-0815"))
      #expect(try await b.getArtifact(.with { $0.requestID = id }).artifact.content == bundle.content)
      fixture.clock.advance(by: 30 * 86_400)
      let purged = try await elapsedUntil {
        await capturedRPCError { try await b.getArtifact(.with { $0.requestID = id }) }?.errorInfoReason == "ARTIFACT_PURGED"
      }
      #expect(purged != nil)
      #expect(try await !fixture.holds("REPLICA-EXPORT-MARKER-0815"))
    }
  }
}
