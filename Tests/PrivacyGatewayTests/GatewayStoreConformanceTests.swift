import Foundation
import PrivacyGateway
import PrivacyKit
import PrivacyTesting
import Testing

extension StoreKind {
  /// Runs `body` with a new, empty database of this kind and a way to open the gateway's stores
  /// on it, once per gateway sharing it.
  func withGatewayDatabase<T: Sendable>(_ body: (_ open: @Sendable () async throws -> GatewayStores) async throws -> T) async throws -> T {
    try await withDatabase { database in
      try await body {
        switch database {
        case .sqlite(let path): try GatewayStores.open(sqlite: path)
        case .postgres(let settings): try await GatewayStores.open(postgres: settings, logger: silentLogger)
        }
      }
    }
  }
}

private let key = try! AuditKey(secret: Data(repeating: 3, count: 32))

private func openLog(_ stores: GatewayStores, clock: TestClock = TestClock()) async throws -> AuditLog {
  try await AuditLog.open(store: stores.audit, key: key, now: { clock.now() }, logger: silentLogger)
}

private func draft(_ index: Int, actor: String = "dana", code: Int = 0) -> AuditDraft {
  AuditDraft(
    requestID: "r-\(index)", actor: actor, role: "dpo", method: "privacy.vault.v1.VaultService/RevealField",
    subjectID: "c-\(index % 3)", subjectsTouched: index == 4 ? 250 : 0, fieldsRevealed: index % 2 == 0 ? ["iban"] : [],
    reason: "refund \(index)", statusCode: code)
}

/// Every method of `AuditStore` and `ReactorStore`, their errors and transactions, the same on
/// each database; and what several gateways sharing one database rely on.
@Suite("Gateway store conformance")
struct GatewayStoreConformanceTests {
  @Test("entries chain after the head, come back whole, and the head follows them", arguments: StoreKind.available)
  func appendAndRead(kind: StoreKind) async throws {
    try await kind.withGatewayDatabase { open in
      let stores = try await open()
      #expect(try await stores.audit.head() == .empty)
      let log = try await openLog(stores)
      var recorded: [AuditEntry] = []
      for index in 1...5 { recorded.append(try await log.record(draft(index))) }
      #expect(try await stores.audit.head() == ChainHead(sequence: 5, hash: recorded[4].hash))
      let chain = try await stores.audit.chain(after: 0, limit: 100).map { try $0.get() }
      #expect(chain == recorded)
      #expect(try await stores.audit.chain(after: 3, limit: 1).map { try $0.get() } == [recorded[3]])
      #expect(try await openLog(try await open()).verify().valid)
    }
  }

  @Test("a batch that cannot be written leaves nothing behind", arguments: StoreKind.available)
  func atomicAppend(kind: StoreKind) async throws {
    try await kind.withGatewayDatabase { open in
      let stores = try await open()
      let first = try await openLog(stores).record(draft(1))
      // Two entries claiming one sequence: the second insert fails, so the first must not stay.
      await #expect(throws: (any Error).self) {
        _ = try await stores.audit.append { head in
          let entry = AuditEntry(draft: draft(2), after: head, at: Date(), key: key)
          return [entry, entry]
        }
      }
      #expect(try await stores.audit.head() == ChainHead(sequence: 1, hash: first.hash))
      #expect(try await stores.audit.chain(after: 0, limit: 10).count == 1)
    }
  }

  @Test("two gateways appending to one database at once extend one chain", arguments: StoreKind.available)
  func sharedChain(kind: StoreKind) async throws {
    try await kind.withGatewayDatabase { open in
      let logs = [try await openLog(try await open()), try await openLog(try await open())]
      let perGateway = 150
      let entries = try await withThrowingTaskGroup(of: AuditEntry.self) { group in
        for (gateway, log) in logs.enumerated() {
          for index in 1...perGateway { group.addTask { try await log.record(draft(gateway * 1000 + index, actor: "gateway-\(gateway)")) } }
        }
        return try await group.reduce(into: []) { $0.append($1) }
      }
      #expect(Set(entries.map(\.sequence)) == Set(1...UInt64(2 * perGateway)))
      let verification = try await logs[1].verify()
      #expect(verification.valid, "\(verification.problem)")
      #expect(verification.entriesChecked == UInt64(2 * perGateway))
    }
  }

  @Test("entries are listed newest first and filtered by actor, method, subject, request id, time and outcome", arguments: StoreKind.available)
  func query(kind: StoreKind) async throws {
    try await kind.withGatewayDatabase { open in
      let clock = TestClock()
      let log = try await openLog(try await open(), clock: clock)
      let start = clock.now()
      for index in 1...6 {
        _ = try await log.record(draft(index, actor: index <= 3 ? "dana" : "sam", code: index == 6 ? 7 : 0))
        clock.advance(by: 10)
      }
      _ = try await log.record(AuditDraft(requestID: "r-7", actor: "", role: "", method: "privacy.consent.v1.ConsentService/CheckConsent", statusCode: 16))
      #expect(try await log.entries(AuditQuery(limit: 50)).map(\.sequence) == [7, 6, 5, 4, 3, 2, 1])
      #expect(try await log.entries(AuditQuery(limit: 2)).map(\.sequence) == [7, 6])
      #expect(try await log.entries(AuditQuery(actor: "dana", limit: 50)).map(\.sequence) == [3, 2, 1])
      #expect(try await log.entries(AuditQuery(method: .service("privacy.consent.v1.ConsentService"), limit: 50)).map(\.sequence) == [7])
      #expect(try await log.entries(AuditQuery(method: .service("privacy.consent.v1"), limit: 50)).isEmpty)
      #expect(try await log.entries(AuditQuery(method: MethodPattern("privacy.vault.v1.VaultService/RevealField"), limit: 50)).count == 6)
      #expect(try await log.entries(AuditQuery(subjectID: "c-1", limit: 50)).map(\.sequence) == [4, 1])
      #expect(try await log.entries(AuditQuery(requestID: "r-5", limit: 50)).map(\.sequence) == [5])
      #expect(try await log.entries(AuditQuery(start: start.addingTimeInterval(20), end: start.addingTimeInterval(40), limit: 50)).map(\.sequence) == [4, 3])
      #expect(try await log.entries(AuditQuery(statusCode: 7, limit: 50)).map(\.sequence) == [6])
      #expect(try await log.entries(AuditQuery(before: 3, limit: 50)).map(\.sequence) == [2, 1])
      #expect(try await log.entries(AuditQuery(actor: "dana", limit: 50)).first?.draft.fieldsRevealed == [])
      #expect(try await log.entries(AuditQuery(requestID: "r-2", limit: 50)).first?.draft.fieldsRevealed == ["iban"])
    }
  }

  @Test("a checkpoint is kept once per sequence and listed after a sequence, oldest first", arguments: StoreKind.available)
  func checkpoints(kind: StoreKind) async throws {
    try await kind.withGatewayDatabase { open in
      let stores = try await open()
      let signed = Date(timeIntervalSince1970: 1_800_000_000.25)
      let checkpoints = (1...3).map { index in
        AuditCheckpoint(
          sequence: UInt64(index * 10), hash: "h\(index)", signedAt: signed, signature: Data([UInt8(index), 0, 255]), publicKey: Data([9, 9]))
      }
      for checkpoint in checkpoints.reversed() { try await stores.audit.saveCheckpoint(checkpoint) }
      try await stores.audit.saveCheckpoint(
        AuditCheckpoint(sequence: 10, hash: "other", signedAt: Date(), signature: Data([1]), publicKey: Data([1])))
      #expect(try await stores.audit.checkpoints(after: 0, limit: 10) == checkpoints)
      #expect(try await stores.audit.checkpoints(after: 10, limit: 1) == [checkpoints[1]])
    }
  }

  @Test("one lease holder at a time; an expired or released lease can be taken; cursors persist", arguments: StoreKind.available)
  func leasesAndCursors(kind: StoreKind) async throws {
    try await kind.withGatewayDatabase { open in
      let store = try await open().reactor
      let now = Date()
      func take(_ name: String, _ holder: String, at offset: TimeInterval, until end: TimeInterval) async throws -> Bool {
        try await store.acquireLease(name, holder: holder, now: now + offset, until: now + end)
      }
      #expect(try await take("r", "a", at: 0, until: 15) == true)
      #expect(try await take("r", "b", at: 1, until: 16) == false)
      #expect(try await take("r", "a", at: 5, until: 20) == true)
      #expect(try await take("r", "b", at: 19, until: 34) == false)
      #expect(try await take("r", "b", at: 21, until: 36) == true)
      #expect(try await take("r", "a", at: 22, until: 37) == false)
      try await store.releaseLease("r", holder: "a")  // not a's: nothing happens
      #expect(try await take("r", "a", at: 23, until: 38) == false)
      try await store.releaseLease("r", holder: "b")
      #expect(try await take("r", "a", at: 23, until: 38) == true)
      #expect(try await take("other", "b", at: 23, until: 38) == true)

      #expect(try await store.cursor("r") == 0)
      try await store.saveCursor("r", 42)
      try await store.saveCursor("r", 43)
      let reopened = try await open().reactor
      #expect(try await reopened.cursor("r") == 43)
      #expect(try await reopened.cursor("other") == 0)
    }
  }

  @Test("gateways racing for one free lease: exactly one gets it", arguments: StoreKind.available)
  func leaseRace(kind: StoreKind) async throws {
    try await kind.withGatewayDatabase { open in
      var stores: [any ReactorStore] = []
      for _ in 0..<4 { stores.append(try await open().reactor) }
      let now = Date()
      let winners = try await withThrowingTaskGroup(of: Bool.self) { group in
        for (index, store) in stores.enumerated() {
          group.addTask { try await store.acquireLease("sweep", holder: "gateway-\(index)", now: now, until: now + 30) }
        }
        return try await group.reduce(into: 0) { $0 += $1 ? 1 : 0 }
      }
      #expect(winners == 1)
    }
  }

  @Test("a held re-entry is remembered across a reopening until dropped; holding twice keeps one", arguments: StoreKind.available)
  func heldReentries(kind: StoreKind) async throws {
    try await kind.withGatewayDatabase { open in
      let store = try await open().reactor
      #expect(try await !store.isReentryHeld("s1"))
      try await store.holdReentry("s1", at: Date())
      try await store.holdReentry("s1", at: Date())
      let reopened = try await open().reactor
      #expect(try await reopened.isReentryHeld("s1"))
      #expect(try await !reopened.isReentryHeld("s2"))
      try await reopened.dropReentry("s1")
      try await reopened.dropReentry("s1")
      #expect(try await !store.isReentryHeld("s1"))
    }
  }
}

/// What only PostgreSQL has: the database's own refusal of edits, and edits made around it.
@Suite("Gateway stores on PostgreSQL", .enabled(if: PostgresTestDatabase.isAvailable))
struct PostgresGatewayStoreTests {
  @Test("the database refuses updates, deletes and truncation of audit entries")
  func appendOnly() async throws {
    try await PostgresTestDatabase.with { database in
      let log = try await openLog(try await GatewayStores.open(postgres: try database.settings, logger: silentLogger))
      _ = try await log.record(draft(1))
      for statement in ["UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log", "TRUNCATE audit_log"] {
        await #expect(throws: (any Error).self, "\(statement)") { try await PostgresTestDatabase.administer(database.url, statement) }
      }
      #expect(try await log.entries(AuditQuery(limit: 10)).map(\.draft.actor) == ["dana"])
    }
  }

  @Test("an entry edited around the triggers is named by verification, an unknown phase as unreadable")
  func tampering() async throws {
    try await PostgresTestDatabase.with { database in
      let log = try await openLog(try await GatewayStores.open(postgres: try database.settings, logger: silentLogger))
      for index in 1...4 { _ = try await log.record(draft(index)) }
      for statement in [
        "ALTER TABLE audit_log DISABLE TRIGGER USER", "UPDATE audit_log SET reason = 'nothing to see' WHERE sequence = 2",
        "UPDATE audit_log SET phase = 'bogus' WHERE sequence = 4",
      ] {
        try await PostgresTestDatabase.administer(database.url, statement)
      }
      let verification = try await log.verify()
      #expect(!verification.valid)
      #expect(verification.firstBrokenSequence == 2)
      let rows = try await GatewayStores.open(postgres: try database.settings, logger: silentLogger).audit.chain(after: 3, limit: 10)
      #expect(rows.count == 1)
      #expect(throws: AuditCorruption(sequence: 4, column: "phase")) { try rows[0].get() }
    }
  }

  @Test("a schema migrated by a newer build is refused")
  func newerSchema() async throws {
    try await PostgresTestDatabase.with { database in
      _ = try await GatewayStores.open(postgres: try database.settings, logger: silentLogger)
      try await PostgresTestDatabase.administer(database.url, "INSERT INTO schema_migrations (service, version) VALUES ('gateway', 99)")
      await #expect(throws: SchemaNewerThanBinary.self) { _ = try await GatewayStores.open(postgres: try database.settings, logger: silentLogger) }
    }
  }

  @Test("two gateways on one PostgreSQL database audit into one chain that either verifies; without GATEWAY_AUDIT_KEY none starts")
  func twoGateways() async throws {
    try await PostgresTestDatabase.with { database in
      let fixture = try GatewayFixture()
      let shared = ["DATABASE_URL": database.url]
      #expect(throws: ConfigurationError.self) { _ = try fixture.gatewayConfiguration(backends: [:], extra: shared) }
      let environment = shared.merging(["GATEWAY_AUDIT_KEY": Data(repeating: 5, count: 32).base64EncodedString()]) { $1 }
      try await fixture.runBackends { ports in
        try await withRunningServer(try await fixture.gateway(backends: ports, extra: environment)) { first in
          try await withRunningServer(try await fixture.gateway(backends: ports, extra: environment)) { second in
            for port in [first, second, first] {
              try await asRole("dpo", port: port) { client in _ = try await AdminClient(wrapping: client).whoAmI(.init()) }
            }
            for port in [first, second] {
              try await asRole("auditor", port: port) { client in
                let admin = AdminClient(wrapping: client)
                let verification = try await admin.verifyAudit(.init()).verification
                #expect(verification.valid, "\(verification.problem)")
                let listed = try await admin.listAudit(.with { $0.method = "privacy.gateway.v1.AdminService/WhoAmI" }).entries
                #expect(Set(listed.map(\.requestID)).count == 3)
              }
            }
          }
        }
      }
    }
  }
}
