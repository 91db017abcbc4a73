import Foundation
import PrivacyKit
import PrivacyTesting
@testable import PrivacyVault
import Testing

extension StoreKind {
  /// Runs `body` with a new, empty vault store of this kind.
  func withVaultStore<T: Sendable>(_ body: (any VaultStore) async throws -> T) async throws -> T {
    try await withDatabase { database in
      switch database {
      case .sqlite(let path): try await body(try SQLiteVaultStore(path: path, logger: silentLogger))
      case .postgres(let settings): try await body(try await PostgresVaultStore.open(settings, logger: silentLogger))
      }
    }
  }
}

/// Every method of `VaultStore`, its errors and its transactions, the same on each store. (The
/// vault's behaviour suites also run on both stores: `scripts/test`.)
@Suite("Vault store conformance")
struct VaultStoreConformanceTests {
  private static let start = Date(timeIntervalSince1970: 1_800_000_000)
  private static let caller = CallerIdentity(actor: "crm", role: "service", requestID: "r-1")

  private func field(_ name: String, encrypted: Bool = false, searchable: Bool = false, tags: [String] = []) -> FieldDefinition {
    FieldDefinition(
      name: name, classification: encrypted ? .personal : .none, specialCategory: nil, criminalOffence: false, mask: .none,
      encrypted: encrypted, searchable: searchable, tags: tags, generalization: nil, description: "", createdAt: Self.start,
      updatedAt: Self.start)
  }

  private func value(_ subject: String, _ field: String, _ content: StoredValue.Content?, blindIndex: [UInt8]? = nil) -> StoredValue {
    StoredValue(
      subjectID: subject, field: field, content: content, keyID: content.map { if case .sealed = $0 { "k-\(subject)" } else { "" } } ?? "",
      blindIndex: blindIndex, locked: false, generalized: false, updatedAt: Self.start,
      source: StoredSource(
        channel: .api, formName: "signup", sealedIP: [9, 9], actorKind: .subject, capturedAt: Self.start, actor: "crm",
        requestID: "r-1"))
  }

  private func key(_ owner: String, kek: String = "kek-1") -> WrappedKey {
    WrappedKey(purpose: Envelope.dataKeyPurpose, owner: owner, keyID: "k-\(owner)", kekID: kek, ciphertext: [1, 2, 3], createdAt: Self.start)
  }

  private func commit(after head: ChainHead, _ fill: (inout VaultCommit) -> Void) -> VaultCommit {
    var commit = VaultCommit(head: head, now: Self.start, caller: Self.caller)
    fill(&commit)
    return commit
  }

  @Test("fields, records, values and keys come back as committed", arguments: StoreKind.available)
  func records(kind: StoreKind) async throws {
    try await kind.withVaultStore { store in
      let fields = [field("email", encrypted: true, searchable: true), field("zip", tags: ["quasi_identifier"])]
      let blindIndexKey = WrappedKey(
        purpose: Envelope.blindIndexPurpose, owner: Envelope.vaultOwner, keyID: "bi-1", kekID: "kek-1", ciphertext: [7], createdAt: Self.start)
      let values = [value("a", "email", .sealed([4, 5, 6]), blindIndex: [0xaa]), value("a", "zip", .plain("10115"))]
      let first = commit(after: .empty) {
        $0.fields = fields
        $0.vaultKeys = [blindIndexKey]
        $0.dataKeys = [key("a"), key("b", kek: "kek-2")]
        $0.records = [RecordState(subjectID: "a", createdAt: Self.start), RecordState(subjectID: "b", createdAt: Self.start)]
        $0.values = values + [value("b", "email", .sealed([1]), blindIndex: [0xaa]), value("b", "zip", nil)]
        $0.log(AccessDraft(.write, subjectID: "a"))
      }
      try await store.commit(first)
      #expect(try await store.loadFields().sorted { $0.name < $1.name } == fields)
      #expect(try await store.vaultKey(purpose: Envelope.blindIndexPurpose) == blindIndexKey)
      #expect(try await store.vaultKey(purpose: "other") == nil)
      let record = try #require(try await store.record("a"))
      #expect(record.state == RecordState(subjectID: "a", createdAt: Self.start))
      #expect(record.values.sorted { $0.field < $1.field } == values)
      #expect(record.dataKey == key("a"))
      #expect(try await store.record("nobody") == nil)
      // A batch read gives each subject's record as record(_:) does, in the order asked.
      let batch = try await store.records(["b", "nobody", "a", "b"])
      let recordB = try #require(try await store.record("b"))
      #expect(batch == [recordB, nil, record, recordB])
      #expect(recordB.values.map(\.field) == ["email", "zip"] && recordB.dataKey == key("b", kek: "kek-2"))
      #expect(try await store.dataKey("b") == key("b", kek: "kek-2"))
      #expect(try await store.values(ofField: "zip").map(\.subjectID) == ["a", "b"])
      #expect(try await store.values(ofField: "zip").last?.content == nil)
      #expect(try await store.fieldHasValues("email"))
      #expect(try await !store.fieldHasValues("phone"))
      #expect(try await store.subjects(field: "email", blindIndex: [0xaa], after: nil, limit: 10) == ["a", "b"])
      #expect(try await store.subjects(field: "email", blindIndex: [0xaa], after: "a", limit: 10) == ["b"])
      #expect(try await store.subjects(field: "email", blindIndex: [0xbb], after: nil, limit: 10).isEmpty)
      #expect(try await store.dataKeys(notWrappedUnder: "kek-2", limit: 10) == [key("a")])
      #expect(try await store.dataKeyCounts() == ["kek-1": 1, "kek-2": 1])
      #expect(try await store.exclusively { 5 } == 5)
    }
  }

  @Test("values are removed, records discarded and data keys destroyed by commits; pending subjects are listed",
        arguments: StoreKind.available)
  func removals(kind: StoreKind) async throws {
    try await kind.withVaultStore { store in
      var pending = RecordState(subjectID: "p", createdAt: Self.start)
      pending.pending = RecordFlag(reason: "double opt-in", since: Self.start)
      let first = commit(after: .empty) {
        $0.fields = [field("email", encrypted: true), field("zip")]
        $0.dataKeys = [key("a"), key("p")]
        $0.records = [RecordState(subjectID: "a", createdAt: Self.start), pending]
        $0.values = [value("a", "email", .sealed([1])), value("a", "zip", .plain("1")), value("p", "zip", .plain("2"))]
      }
      try await store.commit(first)
      #expect(try await store.pendingSubjects() == ["p"])
      try await store.commit(commit(after: first.head) {
        $0.removedValues = [("a", "zip")]
        $0.destroyedDataKeys = ["a"]
        $0.discardedRecords = ["p"]
      })
      #expect(try await store.record("a")?.values.map(\.field) == ["email"])
      #expect(try await store.dataKey("a") == nil)
      #expect(try await store.record("p") == nil)
      #expect(try await store.pendingSubjects().isEmpty)
      #expect(try await store.values(ofField: "zip").isEmpty)
    }
  }

  @Test("k-anonymity counts: rebuilt whole, changed by commits, gone at zero", arguments: StoreKind.available)
  func counts(kind: StoreKind) async throws {
    try await kind.withVaultStore { store in
      #expect(try await store.quasiIdentifierCountedFields() == nil)
      let first = commit(after: .empty) {
        $0.quasiIdentifierCountRebuild = QuasiIdentifierCounts(fields: ["zip", "birth_year"], counts: [[1]: 2, [2]: 1])
      }
      try await store.commit(first)
      #expect(try await store.quasiIdentifierCountedFields() == ["zip", "birth_year"])
      #expect(try await store.quasiIdentifierCount([1]) == 2)
      var second = commit(after: first.head) { _ in }
      second.changeQuasiIdentifierCounts([[1]: -1, [2]: -1, [3]: 4])
      try await store.commit(second)
      #expect(try await store.quasiIdentifierCount([1]) == 1)
      #expect(try await store.quasiIdentifierCount([2]) == 0)
      #expect(try await store.quasiIdentifierCount([3]) == 4)
      try await store.commit(commit(after: second.head) { $0.quasiIdentifierCountedFields = ["zip"] })
      #expect(try await store.quasiIdentifierCountedFields() == ["zip"])
      #expect(try await store.quasiIdentifierCount([3]) == 4)
    }
  }

  @Test("the access log: one chain across commits, read by query; a commit on a moved head writes nothing",
        arguments: StoreKind.available)
  func accessLog(kind: StoreKind) async throws {
    try await kind.withVaultStore { store in
      let first = commit(after: .empty) {
        $0.log(AccessDraft(.write, subjectID: "a", field: "email"))
        $0.log(AccessDraft(.reveal, subjectID: "b", field: "zip", reason: "support"))
      }
      try await store.commit(first)
      let second = commit(after: first.head) { $0.log(AccessDraft(.erasure, subjectID: "a")) }
      try await store.commit(second)
      #expect(try await store.logHead() == second.head)
      let all = first.log + second.log
      #expect(try await store.accessLog(AccessLogQuery(limit: 10)) == all)
      #expect(try await store.accessLog(AccessLogQuery(subjectID: "a", limit: 10)).map(\.sequence) == [1, 3])
      #expect(try await store.accessLog(AccessLogQuery(field: "zip", limit: 10)).map(\.sequence) == [2])
      #expect(try await store.accessLog(AccessLogQuery(kinds: [.erasure, .reveal], limit: 10)).map(\.sequence) == [2, 3])
      #expect(try await store.accessLog(AccessLogQuery(after: 1, limit: 1)).map(\.sequence) == [2])
      // A commit made on the first head: refused whole, its record with it.
      let stale = commit(after: first.head) {
        $0.records = [RecordState(subjectID: "c", createdAt: Self.start)]
        $0.log(AccessDraft(.write, subjectID: "c"))
      }
      await #expect(throws: (any Error).self) { try await store.commit(stale) }
      #expect(try await store.record("c") == nil)
      #expect(try await store.logHead() == second.head)
    }
  }
}
