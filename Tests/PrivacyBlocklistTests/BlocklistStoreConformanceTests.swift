import Foundation
import PostgresNIO
import PrivacyBlocklist
import PrivacyKit
import PrivacyTesting
import Testing

/// The stores the conformance suite runs on: SQLite always, PostgreSQL beside the test cluster.
enum BlocklistStoreKind: String, CaseIterable, CustomTestStringConvertible {
  case sqlite, postgres

  static var available: [BlocklistStoreKind] { PostgresTestDatabase.isAvailable ? allCases : [.sqlite] }

  var testDescription: String { rawValue }

  /// Runs `body` with a new, empty store of this kind.
  func withStore<T: Sendable>(_ body: (any BlocklistStore) async throws -> T) async throws -> T {
    switch self {
    case .sqlite:
      let directory = try TestDirectory()
      defer { directory.remove() }
      return try await body(try SQLiteBlocklistStore(path: directory.path("blocklist.sqlite"), logger: silentLogger))
    case .postgres:
      return try await PostgresTestDatabase.with { database in
        try await body(try await PostgresBlocklistStore.open(try database.settings, logger: silentLogger))
      }
    }
  }
}

/// Every method of `BlocklistStore`, its errors and its transactions, the same on each store.
@Suite("Blocklist store conformance")
struct BlocklistStoreConformanceTests {
  @Test("committed entries come back whole, active ones counted by pepper", arguments: BlocklistStoreKind.available)
  func addedEntries(kind: BlocklistStoreKind) async throws {
    try await kind.withStore { store in
      let entries = [entry("e1", .email, seed: 1, pepper: "p1"), entry("e2", .phone, seed: 2, pepper: "p1"), entry("e3", .custom, seed: 3, pepper: "p2")]
      var commit = BlocklistCommit()
      commit.added = entries
      try await store.commit(commit)
      #expect(try await store.activeEntries().sorted { $0.id < $1.id } == entries)
      #expect(try await store.activeCountsByPepper() == ["p1": 2, "p2": 1])
    }
  }

  @Test("a removal discards the full hash and records who, when and why; a second removal changes nothing",
        arguments: BlocklistStoreKind.available)
  func removal(kind: BlocklistStoreKind) async throws {
    try await kind.withStore { store in
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

  @Test("a commit that would hold one hash twice fails whole: nothing of it is stored", arguments: BlocklistStoreKind.available)
  func atomicCommit(kind: BlocklistStoreKind) async throws {
    try await kind.withStore { store in
      var first = BlocklistCommit()
      first.added = [entry("e1", .email, seed: 1)]
      try await store.commit(first)
      var clash = BlocklistCommit()
      clash.added = [entry("e2", .email, seed: 2), entry("e3", .email, seed: 1)]
      await #expect(throws: (any Error).self) { try await store.commit(clash) }
      #expect(try await store.activeEntries().map(\.id) == ["e1"])
    }
  }

  @Test("listing: newest first, by kind and request, pages after a cursor that ties on time", arguments: BlocklistStoreKind.available)
  func listing(kind: BlocklistStoreKind) async throws {
    try await kind.withStore { store in
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
