import Foundation
import GRPCCore
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import PrivacyVault
import Testing

/// `Vault.putRecords`, the bulk-load path (the seeder uses it): one transaction for many records,
/// with the same result as the records put one by one.
@Suite("Batched puts")
struct BatchPutTests {
  private let caller = CallerIdentity(actor: "seed", role: "service", requestID: "batch-1")
  private let importSource = ValueSource(channel: .import, formName: "batch", actorKind: .system, capturedAt: Date())

  /// A vault on the fixture's file, opened in this process as the seeder opens it.
  private func withVault<T>(_ fixture: VaultFixture, _ body: (Vault) async throws -> T) async throws -> T {
    let keyring = try Keyring(environment: EnvironmentReader(["VAULT_MASTER_KEY": TestKeys.first]))
    let store: any VaultStore =
      VaultFixture.onPostgres
      ? try await PostgresVaultStore.open(try PostgresSettings(url: try await fixture.postgresDatabase(), environment: EnvironmentReader([:])), logger: silentLogger)
      : try SQLiteVaultStore(path: fixture.databasePath, logger: silentLogger)
    return try await body(try await Vault.open(store: store, settings: VaultSettings(keyring: keyring), logger: silentLogger))
  }

  @Test("a batch creates and updates records in one chained, counted commit; a batch naming a subject twice changes nothing")
  func batch() async throws {
    let fixture = try VaultFixture()
    try await fixture.run { client in
      try await client.defineStandardFields()
      try await client.put("s0", ["email": "zero@example.com", "zip": "10115"])
    }
    let before = try await fixture.run { client in try await client.accessLog().count }

    let outcomes = try await withVault(fixture) { vault in
      let outcomes = try await vault.putRecords([
        (subjectID: "s0", values: ["zip": "10117", "gender": "f"]),
        (subjectID: "s1", values: ["email": "one@example.com", "zip": "10117", "gender": "f", "iban": "DE89370400440532013000"]),
        (subjectID: "s2", values: ["email": "two@example.com", "zip": "10115"]),
      ], source: importSource, caller: caller)
      await #expect(throws: InvalidArgument.self) {
        try await vault.putRecords([
          (subjectID: "s3", values: ["email": "three@example.com"]), (subjectID: "s3", values: ["zip": "10115"]),
        ], source: importSource, caller: caller)
      }
      return outcomes
    }
    #expect(outcomes.map(\.created) == [false, true, true])
    #expect(outcomes.map(\.version) == [2, 1, 1])
    #expect(outcomes.map(\.changedFields) == [["gender", "zip"], ["email", "gender", "iban", "zip"], ["email", "zip"]])

    try await fixture.run { client in
      let log = try await client.accessLog()
      #expect(log.count == before + 8)
      #expect(log.suffix(8).allSatisfy { $0.actor == "seed" && $0.requestID == "batch-1" })
      let verification = try await client.verify()
      #expect(verification.valid && verification.entriesChecked == UInt64(before + 8))
      #expect(try await client.get("s0").value(of: "zip") == "10117")
      #expect(try await client.get("s1").value(of: "email") == "one@example.com")
      #expect(try await client.get("s2").value(of: "zip") == "10115")
      let found = try await client.findByField(.with {
        $0.field = "email"
        $0.value = "one@example.com"
      })
      #expect(found.records.map(\.subjectID) == ["s1"])
      await #expect(throws: RPCError.self) { try await client.get("s3") }
    }
    try await expectCountsMatchRebuild(fixture)
  }
}
