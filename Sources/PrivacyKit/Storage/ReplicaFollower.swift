import Foundation
public import Logging
import PostgresNIO
import Synchronization

/// Keeps one replica's memory in step with what the other replicas commit to the shared
/// PostgreSQL database, and says whether that memory is recent enough to answer from.
///
/// Writers `NOTIFY` a channel when they commit; the follower `LISTEN`s on one pooled connection
/// and, on each notification and at least four times per `maxStaleness` (the catch-up after a
/// lost notification or a reconnect, and the proof that the database still answers), calls
/// `catchUp`, which applies what was committed after what it
/// applied last. Each successful catch-up is the database answering: when none succeeded for
/// `maxStaleness` (`REPLICA_MAX_STALENESS_MS`), `isFresh` is false and the service refuses the
/// answers it gives from memory, and reports NOT_SERVING, instead of answering stale.
public final class ReplicaFollower: ServerCompanion {
  private let database: PostgresPool
  private let channel: String
  private let catchUp: @Sendable () async throws -> Void
  private let maxStaleness: Duration
  private let pollInterval: Duration
  private let logger: Logger
  /// When a catch-up last succeeded.
  private let lastCaughtUp: Mutex<ContinuousClock.Instant>
  private let stopped = Mutex(false)
  /// Wakes the running catch-up loop; finished by `stop` so the follower ends at once.
  private let wake = Mutex<AsyncStream<Void>.Continuation?>(nil)
  /// The running follow loop, cancelled by `stop`.
  private let loop = Mutex<Task<Void, Never>?>(nil)

  /// `catchUp` must be safe to run again over changes it already applied. The replica counts as
  /// fresh from here: its memory was just loaded from the database.
  public init(
    database: PostgresPool, channel: String, maxStaleness: Duration, logger: Logger, catchUp: @escaping @Sendable () async throws -> Void
  ) {
    self.database = database
    self.channel = channel
    self.catchUp = catchUp
    self.maxStaleness = maxStaleness
    self.pollInterval = maxStaleness / 4
    self.logger = logger
    self.lastCaughtUp = Mutex(.now)
  }

  /// A follower of `database` as its settings say (`REPLICA_MAX_STALENESS_MS`).
  public convenience init(database: PostgresPool, channel: String, logger: Logger, catchUp: @escaping @Sendable () async throws -> Void) {
    self.init(database: database, channel: channel, maxStaleness: database.settings.maxStaleness, logger: logger, catchUp: catchUp)
  }

  /// Whether the memory reflects the database as of at most `maxStaleness` ago.
  public var isFresh: Bool { ContinuousClock.now - lastCaughtUp.withLock { $0 } <= maxStaleness }

  /// Throws `ReplicaStale` (UNAVAILABLE: ask another replica) when the memory is not fresh.
  public func requireFresh() throws(ReplicaStale) {
    guard isFresh else { throw ReplicaStale(maxStaleness: maxStaleness) }
  }

  public func run() async throws {
    // Its own task, so that `stop` can cancel it: while the database is unreachable the loop may
    // wait on the pool for a connection, which only cancellation ends at once.
    let following = Task { await self.follow() }
    loop.withLock { $0 = following }
    if stopped.withLock({ $0 }) { following.cancel() }
    await withTaskCancellationHandler { await following.value } onCancel: { following.cancel() }
  }

  public func stop() {
    stopped.withLock { $0 = true }
    wake.withLock { $0 }?.finish()
    loop.withLock { $0 }?.cancel()
  }

  /// Follows the feed, reconnecting after a failure, until stopped or cancelled.
  private func follow() async {
    var failures = 0
    while !stopped.withLock({ $0 }) && !Task.isCancelled {
      do {
        try await listenAndCatchUp()
      } catch is CancellationError {
        return
      } catch {
        failures += 1
        // Logged once per outage, not once per retry.
        if failures == 1 {
          logger.warning("lost the database feed; retrying", metadata: ["replica.channel": "\(channel)", "error.type": "\(type(of: error))"])
        }
        try? await Task.sleep(for: pollInterval)
        continue
      }
      failures = 0
    }
  }

  /// Listens and catches up until the connection fails or the follower stops.
  private func listenAndCatchUp() async throws {
    let (wakes, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    self.wake.withLock { $0 = wake }
    if stopped.withLock({ $0 }) { return }
    try await database.client.withConnection { connection in
      try await connection.listen(on: channel) { notifications in
        try await withThrowingTaskGroup(of: Void.self) { group in
          group.addTask {
            wake.yield()
            // Its own commits wake it too: a catch-up that finds nothing new still proves the
            // database answers, which keeps a busy replica fresh.
            for try await _ in notifications { wake.yield() }
            throw FeedEnded()
          }
          group.addTask {
            while true {
              try await Task.sleep(for: self.pollInterval)
              wake.yield()
            }
          }
          group.addTask {
            for await _ in wakes {
              try await self.catchUp()
              self.lastCaughtUp.withLock { $0 = .now }
            }
          }
          // The first task to end (the feed failing, a catch-up failing, or `stop` finishing the
          // wakes) ends all.
          try await group.next()
          group.cancelAll()
        }
      }
    }
  }

  private struct FeedEnded: Error {}
}

/// A replica that has not heard from its database for longer than it may: its memory may miss
/// what other replicas committed, so it answers nothing from it.
public struct ReplicaStale: PrivacyError {
  public static let errorDomain = "privacy.replica.v1"
  public var maxStaleness: Duration
  public var statusCode: StatusCode { .unavailable }
  public var message: String {
    "this replica has not reached its database for more than \(Int(maxStaleness / .milliseconds(1))) ms; ask another replica"
  }
  public var reason: String? { "REPLICA_STALE" }
}
