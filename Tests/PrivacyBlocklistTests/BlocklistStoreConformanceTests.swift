import Foundation
import PostgresNIO
import PrivacyBlocklist
import PrivacyKit
import PrivacyTesting
import Synchronization
import Testing

extension StoreKind {
  /// Runs `body` with a new, empty blocklist store of this kind.
  func withBlocklistStore<T: Sendable>(_ body: (any BlocklistStore) async throws -> T) async throws -> T {
    try await withDatabase { database in
      switch database {
      case .sqlite(let path): try await body(try SQLiteBlocklistStore(path: path, logger: silentLogger))
      case .postgres(let settings): try await body(try await PostgresBlocklistStore.open(settings, logger: silentLogger))
      }
    }
  }
}

/// Every method of `BlocklistStore`, its errors and its transactions, the same on each store.
@Suite("Blocklist store conformance")
struct BlocklistStoreConformanceTests {
  @Test("committed entries come back whole, active ones counted by pepper", arguments: StoreKind.available)
  func addedEntries(kind: StoreKind) async throws {
    try await kind.withBlocklistStore { store in
      let entries = [entry("e1", .email, seed: 1, pepper: "p1"), entry("e2", .phone, seed: 2, pepper: "p1"), entry("e3", .custom, seed: 3, pepper: "p2")]
      var commit = BlocklistCommit()
      commit.added = entries
      try await store.commit(commit)
      #expect(try await store.activeEntries().sorted { $0.id < $1.id } == entries)
      #expect(try await store.activeCountsByPepper() == ["p1": 2, "p2": 1])
    }
  }

  @Test("a removal discards the full hash and records who, when and why; a second removal changes nothing",
        arguments: StoreKind.available)
  func removal(kind: StoreKind) async throws {
    try await kind.withBlocklistStore { store in
      var add = BlocklistCommit()
      add.added = [entry("e1", .email, seed: 1), entry("e2", .email, seed: 2)]
      try await store.commit(add)
      let removal = BlocklistEntry.Removal(at: Date(timeIntervalSince1970: 1_800_000_000.123456), reason: "re-entry", by: "dpo-anna")
      var remove = BlocklistCommit()
      remove.removed = [("e1", removal)]
      try await store.commit(remove)
      var again = BlocklistCommit()
      again.removed = [("e1", BlocklistEntry.Removal(at: Date(timeIntervalSince1970: 1_900_000_000), reason: "later", by: "other"))]
      try await store.commit(again)

      #expect(try await store.activeEntries().map(\.id) == ["e2"])
      let removed = try await store.entries(EntryFilter(includeRemoved: true), after: nil, limit: 10).first { $0.id == "e1" }
      #expect(removed?.hash == nil)
      #expect(removed?.hashPrefix == entry("e1", .email, seed: 1).hashPrefix)
      #expect(removed?.removal == removal)
      #expect(try await store.activeCountsByPepper() == ["p1": 1])
      #expect(try await store.entries(EntryFilter(), after: nil, limit: 10).map(\.id) == ["e2"])
    }
  }

  @Test("a commit that would hold one hash twice fails whole: nothing of it is stored", arguments: StoreKind.available)
  func atomicCommit(kind: StoreKind) async throws {
    try await kind.withBlocklistStore { store in
      var first = BlocklistCommit()
      first.added = [entry("e1", .email, seed: 1)]
      try await store.commit(first)
      var clash = BlocklistCommit()
      clash.added = [entry("e2", .email, seed: 2), entry("e3", .email, seed: 1)]
      await #expect(throws: BlocklistEntryConflict()) { try await store.commit(clash) }
      #expect(try await store.activeEntries().map(\.id) == ["e1"])
    }
  }

  @Test("another replica adding the same identifier between this one's catch-up and its commit: both succeed, one entry",
        arguments: StoreKind.available)
  func overtakenAdd(kind: StoreKind) async throws {
    try await kind.withDatabase { database in
      func open() async throws -> any BlocklistStore {
        switch database {
        case .sqlite(let path): try SQLiteBlocklistStore(path: path, logger: silentLogger)
        case .postgres(let settings): try await PostgresBlocklistStore.open(settings, logger: silentLogger)
        }
      }
      let keyring = PepperKeyring([Pepper(id: "p1", secret: Data(repeating: 7, count: 32))])
      let normalizer = Normalizer(defaultCountryCode: "49")
      let other = try await Blocklist.open(store: try await open(), keyring: keyring, normalizer: normalizer, logger: silentLogger)
      let identifiers = try other.normalize([(.email, "anna@example.com"), (.email, "ben@example.com")])
      let overtaken = OvertakenStore(store: try await open()) {
        _ = try await other.add([identifiers[0]], reason: "erased", requestID: "r-1", caller: CallerIdentity(actor: "b", role: "dpo", requestID: "r-1"))
      }
      let blocklist = try await Blocklist.open(store: overtaken, keyring: keyring, normalizer: normalizer, logger: silentLogger)
      let outcome = try await blocklist.add(identifiers, reason: "erased", requestID: "r-2", caller: CallerIdentity(actor: "a", role: "dpo", requestID: "r-2"))
      #expect(outcome.added == 1 && outcome.alreadyPresent == 1)
      #expect(overtaken.conflicts == 1)
      #expect(try await open().activeEntries().count == 2)
      #expect(blocklist.check(identifiers).allSatisfy { $0 != nil })
    }
  }

  @Test("listing: newest first, by kind and request, pages after a cursor that ties on time", arguments: StoreKind.available)
  func listing(kind: StoreKind) async throws {
    try await kind.withBlocklistStore { store in
      let base = Date(timeIntervalSince1970: 1_800_000_000)
      var commit = BlocklistCommit()
      commit.added = [
        entry("a", .email, seed: 1, at: base, request: "r-1"), entry("b", .phone, seed: 2, at: base, request: "r-1"),
        entry("c", .email, seed: 3, at: base.addingTimeInterval(1), request: "r-2"),
        entry("d", .custom, seed: 4, at: base.addingTimeInterval(2), request: "r-2"),
      ]
      try await store.commit(commit)
      #expect(try await store.entries(EntryFilter(), after: nil, limit: 10).map(\.id) == ["d", "c", "b", "a"])
      #expect(try await store.entries(EntryFilter(kinds: [.email]), after: nil, limit: 10).map(\.id) == ["c", "a"])
      #expect(try await store.entries(EntryFilter(kinds: [.email, .phone]), after: nil, limit: 10).map(\.id) == ["c", "b", "a"])
      #expect(try await store.entries(EntryFilter(requestID: "r-2"), after: nil, limit: 10).map(\.id) == ["d", "c"])
      let firstPage = try await store.entries(EntryFilter(), after: nil, limit: 3)
      #expect(firstPage.map(\.id) == ["d", "c", "b"])
      let cursor = EntryCursor(addedAt: Microseconds(firstPage[2].addedAt), entryID: firstPage[2].id)
      #expect(try await store.entries(EntryFilter(), after: cursor, limit: 3).map(\.id) == ["a"])
      #expect(try await store.entries(EntryFilter(requestID: "none"), after: nil, limit: 10).isEmpty)
    }
  }
}

extension BlocklistStoreConformanceTests {
  @Test("every commit takes the next change number; changes after one hold each entry as it is now", arguments: StoreKind.available)
  func changes(kind: StoreKind) async throws {
    try await kind.withBlocklistStore { store in
      #expect(try await store.lastChange() == 0)
      #expect(try await store.changes(after: 0) == BlocklistChanges(entries: [], through: 0))
      var first = BlocklistCommit()
      first.added = [entry("e1", .email, seed: 1), entry("e2", .email, seed: 2)]
      try await store.commit(first)
      var second = BlocklistCommit()
      second.added = [entry("e3", .phone, seed: 3)]
      try await store.commit(second)
      let removal = BlocklistEntry.Removal(at: Date(timeIntervalSince1970: 1_800_000_100), reason: "re-entry", by: "dpo-anna")
      var third = BlocklistCommit()
      third.removed = [("e1", removal)]
      try await store.commit(third)

      #expect(try await store.lastChange() == 3)
      let all = try await store.changes(after: 0)
      #expect(all.through == 3)
      #expect(all.entries.map(\.id).sorted() == ["e1", "e2", "e3"])
      #expect(all.entries.first { $0.id == "e1" }?.hash == nil)
      let later = try await store.changes(after: 1)
      #expect(later.entries.map(\.id).sorted() == ["e1", "e3"])
      #expect(later.entries.first { $0.id == "e1" }?.removal == removal)
      #expect(try await store.changes(after: 3) == BlocklistChanges(entries: [], through: 3))
    }
  }
}

/// What only PostgreSQL has: a schema shared by replicas that start at once, and newer builds.
@Suite("Blocklist store on PostgreSQL", .enabled(if: PostgresTestDatabase.isAvailable))
struct PostgresBlocklistStoreTests {
  @Test("replicas starting at once migrate once; reopening keeps the data")
  func concurrentMigrations() async throws {
    try await PostgresTestDatabase.with { database in
      let settings = try database.settings
      let stores = try await withThrowingTaskGroup(of: PostgresBlocklistStore.self) { group in
        for _ in 0..<4 { group.addTask { try await PostgresBlocklistStore.open(settings, logger: silentLogger) } }
        return try await group.reduce(into: []) { $0.append($1) }
      }
      var commit = BlocklistCommit()
      commit.added = [entry("e1", .email, seed: 1)]
      try await stores[0].commit(commit)
      #expect(try await stores[3].activeEntries().map(\.id) == ["e1"])
      let reopened = try await PostgresBlocklistStore.open(settings, logger: silentLogger)
      #expect(try await reopened.activeEntries().map(\.id) == ["e1"])
    }
  }

  @Test("a schema migrated by a newer build is refused")
  func newerSchema() async throws {
    try await PostgresTestDatabase.with { database in
      _ = try await PostgresBlocklistStore.open(try database.settings, logger: silentLogger)
      try await PostgresTestDatabase.administer(database.url, "INSERT INTO schema_migrations (service, version) VALUES ('blocklist', 99)")
      await #expect(throws: SchemaNewerThanBinary.self) { _ = try await PostgresBlocklistStore.open(try database.settings, logger: silentLogger) }
    }
  }

  @Test("the blocklist service runs on PostgreSQL: an entry added over gRPC is blocked after a restart")
  func service() async throws {
    try await PostgresTestDatabase.with { database in
      let fixture = try BlocklistFixture(environment: ["DATABASE_URL": database.url])
      try await fixture.run { client in _ = try await client.add([id(.email, "anna@example.com")]) }
      let answer = try await fixture.run { client in try await client.check([id(.email, "Anna@Example.com"), id(.email, "bo@example.com")]) }
      #expect(answer.matches.map(\.matched) == [true, false])
    }
  }
}

/// Two or more blocklist replicas on one PostgreSQL database.
@Suite("Blocklist replicas on PostgreSQL", .enabled(if: PostgresTestDatabase.isAvailable))
struct BlocklistReplicaTests {
  /// Runs two replicas of the service on one database (clients `a` and `b`).
  private func withReplicas<T: Sendable>(
    _ database: PostgresTestDatabase, staleness: Int = 5_000,
    _ body: (_ a: BlocklistClient, _ b: BlocklistClient, _ bPort: Int) async throws -> T
  ) async throws -> T {
    let fixture = try BlocklistFixture(environment: ["DATABASE_URL": database.url, "REPLICA_MAX_STALENESS_MS": String(staleness)])
    let identity = CallerIdentity(actor: "dpo-anna", role: "dpo", requestID: "req-1")
    return try await withRunningServer(try await fixture.makeServer()) { aPort in
      try await withRunningServer(try await fixture.makeServer()) { bPort in
        try await withTestClient(port: aPort, identity: identity) { a in
          try await withTestClient(port: bPort, identity: identity) { b in
            try await body(BlocklistClient(wrapping: a), BlocklistClient(wrapping: b), bPort)
          }
        }
      }
    }
  }

  @Test("what one replica adds or removes, the other answers at once: notified, not found by the periodic catch-up")
  func following() async throws {
    try await PostgresTestDatabase.with { database in
      // With 600 s of staleness allowed, the periodic catch-up comes every 150 s: what the other
      // replica answers within 5 s, it was told.
      try await withReplicas(database, staleness: 600_000) { a, b, _ in
        for index in 1...5 {
          let address = id(.email, "person-\(index)@example.com")
          try await a.add([address])
          _ = try #require(try await elapsedUntil(within: .seconds(5)) { try await b.check([address]).matches[0].matched })
          try await b.remove([address])
          _ = try #require(try await elapsedUntil(within: .seconds(5)) { try await !a.check([address]).matches[0].matched })
        }
        // The second replica's own write decides on what the first committed: no second entry.
        try await a.add([id(.phone, "+49 170 1234567")])
        let again = try await b.add([id(.phone, "+49 170 1234567")])
        #expect(again.addedCount == 0 && again.alreadyPresentCount == 1)
      }
    }
  }

  @Test("a replica that loses its database refuses checks (UNAVAILABLE) and reports NOT_SERVING, and serves again once it is back")
  func staleness() async throws {
    try await PostgresTestDatabase.with { database in
      let name = database.name
      let cluster = try #require(PostgresTestDatabase.clusterURL)
      try await withReplicas(database, staleness: 300) { _, b, bPort in
        let address = id(.email, "anna@example.com")
        // On a busy machine a catch-up can take longer than 300 ms; wait for a fresh one.
        #expect(try await elapsedUntil(within: .seconds(10)) { (try? await b.check([address]))?.matches.first?.matched == false } != nil)
        try await PostgresTestDatabase.administer(cluster, "ALTER DATABASE \(name) ALLOW_CONNECTIONS false")
        try await PostgresTestDatabase.administer(
          cluster, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '\(name)' AND pid <> pg_backend_pid()")
        let refused = try await elapsedUntil(within: .seconds(10)) {
          await capturedRPCError { try await b.check([address]) }?.code == .unavailable
        }
        #expect(refused != nil)
        let error = await capturedRPCError { try await b.check([address]) }
        #expect(error?.message.contains("has not reached its database for more than 300 ms") == true, "\(error?.message ?? "")")
        #expect(await HealthProbe.check(ServiceAddress(host: "127.0.0.1", port: bPort)) == .notServing)
        try await PostgresTestDatabase.administer(cluster, "ALTER DATABASE \(name) ALLOW_CONNECTIONS true")
        // The pool reconnects with a backoff that grew during the outage (see the consent test).
        let back = try await elapsedUntil(within: .seconds(60)) {
          let healthy = await HealthProbe.check(ServiceAddress(host: "127.0.0.1", port: bPort)) == .serving
          let answered = (try? await b.check([address]))?.matches.first?.matched == false
          return healthy && answered
        }
        #expect(back != nil)
      }
    }
  }
}

/// An entry with a hash of its own (`seed`) under pepper `pepper`.
private func entry(
  _ id: String, _ kind: IdentifierKind, seed: UInt8, pepper: String = "p1", at: Date = Date(timeIntervalSince1970: 1_800_000_000),
  request: String = "r-1"
) -> BlocklistEntry {
  let hash = KeyedHash(bytes: (0..<32).map { UInt8($0) &+ seed })!
  return BlocklistEntry(
    id: id, kind: kind, hash: hash, hashPrefix: String(hash.hex.prefix(8)), pepperID: pepper, reason: "erased", requestID: request,
    addedAt: at, addedBy: "dpo-anna")
}

/// A real store whose first commit is overtaken: `overtake` (another replica's write) commits
/// first, in the moment between the caller's catch-up and its commit.
private final class OvertakenStore: BlocklistStore {
  private let store: any BlocklistStore
  private let overtake: @Sendable () async throws -> Void
  private let state = Mutex((overtaken: false, conflicts: 0))

  init(store: any BlocklistStore, overtake: @escaping @Sendable () async throws -> Void) {
    self.store = store
    self.overtake = overtake
  }

  /// How many commits the store refused with `BlocklistEntryConflict`.
  var conflicts: Int { state.withLock { $0.conflicts } }

  func commit(_ commit: BlocklistCommit) async throws {
    if state.withLock({ state in defer { state.overtaken = true }; return !state.overtaken }) { try await overtake() }
    do {
      try await store.commit(commit)
    } catch let conflict as BlocklistEntryConflict {
      state.withLock { $0.conflicts += 1 }
      throw conflict
    }
  }

  func activeEntries() async throws -> [BlocklistEntry] { try await store.activeEntries() }
  func activeCountsByPepper() async throws -> [String: Int] { try await store.activeCountsByPepper() }
  func lastChange() async throws -> UInt64 { try await store.lastChange() }
  func changes(after change: UInt64) async throws -> BlocklistChanges { try await store.changes(after: change) }
  func entries(_ filter: EntryFilter, after cursor: EntryCursor?, limit: Int) async throws -> [BlocklistEntry] {
    try await store.entries(filter, after: cursor, limit: limit)
  }
}
