import Foundation
import PrivacyKit
import PrivacyTesting
import Synchronization
import Testing

@Suite("Replica follower", .enabled(if: PostgresTestDatabase.isAvailable))
struct ReplicaFollowerTests {
  @Test("catches up on another replica's notification at once, and not on its own replica's, which its memory already holds")
  func ownNotificationsIgnored() async throws {
    try await PostgresTestDatabase.with { database in
      let own = try await PostgresPool.open(try database.settings, service: "test", migrations: [], logger: silentLogger)
      let other = try await PostgresPool.open(try database.settings, service: "test", migrations: [], logger: silentLogger)
      let catchUps = Mutex(0)
      // Periodic catch-ups every 150 s: within the test, only the first one and notifications count.
      let follower = ReplicaFollower(database: own, channel: "test_changes", maxStaleness: .seconds(600), logger: silentLogger) {
        catchUps.withLock { $0 += 1 }
      }
      let running = Task { try await follower.run() }
      defer {
        follower.stop()
        running.cancel()
      }
      _ = try #require(try await elapsedUntil { catchUps.withLock { $0 } == 1 })
      // The listener is up once the first catch-up ran; give the LISTEN a moment to reach the server.
      try await Task.sleep(for: .milliseconds(200))
      try await own.transaction { connection in try await own.notify("test_changes", on: connection) }
      try await Task.sleep(for: .milliseconds(500))
      #expect(catchUps.withLock { $0 } == 1)
      try await other.transaction { connection in try await other.notify("test_changes", on: connection) }
      #expect(try await elapsedUntil { catchUps.withLock { $0 } == 2 } != nil)
    }
  }
}
