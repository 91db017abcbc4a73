import Foundation
import GRDB
import GRPCCore
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import PrivacyVault
import Testing

@Suite("Encryption at rest")
struct EncryptionTests {
  @Test("no clear value of an encrypted field, and no source IP, ever reaches the database or its WAL", sqliteOnly)
  func diskScan() async throws {
    try await withVaultService { client, fixture async throws in
      try await client.defineStandardFields()
      try await client.define(field("loyalty_note", .none, encrypted: true))
      let distinctive = [
        "email": "quokka.unique.7731@example.net", "name": "Zebulon Quibbleworth", "phone": "+44 20 7946 0958",
        "iban": "GB33BUKB20201555555555", "diagnosis": "Xylophonitis chronica", "loyalty_note": "OptedInNoteZz91",
      ]
      try await client.put("c1", distinctive, source: source(ip: "203.0.113.201"))
      try await client.put("c2", ["email": "second.quokka@example.net"], source: source(ip: "2001:db8::beef"))
      _ = try await client.reveal("c1", "iban")
      _ = try await client.exportRecord(.with { $0.subjectID = "c1" })
      _ = try await client.findByField(.with { $0.field = "email"; $0.value = "quokka.unique.7731@example.net" })
      #expect(try await client.get("c1").value(of: "name") == "Zebulon Quibbleworth")
      for value in Array(distinctive.values) + ["second.quokka@example.net", "203.0.113.201", "2001:db8::beef", "Quibbleworth", "quokka"] {
        #expect(!filesContain(fixture.files, value), "\(value) found on disk")
      }
      // The scan does find what is stored in clear, so it is looking at the right bytes.
      try await client.put("c1", ["segment": "ClearSegmentMarker"])
      #expect(filesContain(fixture.files, "ClearSegmentMarker"))
    }
  }

  @Test("a ciphertext moved to another subject or field fails to open: DATA_LOSS, never a wrong value", sqliteOnly)
  func movedCiphertext() async throws {
    try await withVaultService { client, fixture async throws in
      try await client.defineStandardFields()
      try await client.put("alice", ["iban": "DE89370400440532013000", "name": "Alice", "email": "alice@example.com"])
      try await client.put("bob", ["iban": "GB33BUKB20201555555555", "name": "Bob"])

      // Alice's IBAN ciphertext (and its key id) copied over Bob's.
      try fixture.execute("""
        UPDATE record_values SET value_sealed = (SELECT value_sealed FROM record_values WHERE subject_id = 'alice' AND field = 'iban'),
          key_id = (SELECT key_id FROM record_values WHERE subject_id = 'alice' AND field = 'iban')
        WHERE subject_id = 'bob' AND field = 'iban'
        """)
      let bob = await capturedRPCError { try await client.get("bob") }
      #expect(bob?.code == .dataLoss && bob?.errorInfoReason == "VALUE_UNREADABLE")
      #expect(bob?.message.contains("DE89") == false)
      let reveal = await capturedRPCError { try await client.reveal("bob", "iban") }
      #expect(reveal?.code == .dataLoss)
      #expect(try await client.accessLog { $0.kinds = [.reveal] }.isEmpty)
      let export = await capturedRPCError { try await client.exportRecord(.with { $0.subjectID = "bob" }) }
      #expect(export?.code == .dataLoss)

      // Alice's name ciphertext moved into her email field.
      try fixture.execute("""
        UPDATE record_values SET value_sealed = (SELECT value_sealed FROM record_values WHERE subject_id = 'alice' AND field = 'name')
        WHERE subject_id = 'alice' AND field = 'email'
        """)
      let alice = await capturedRPCError { try await client.reveal("alice", "email") }
      #expect(alice?.code == .dataLoss)
      #expect(try await client.reveal("alice", "name").value == "Alice")
    }
  }

  @Test("a flipped byte or a swapped data key fails to open", sqliteOnly)
  func tamperedBytes() async throws {
    try await withVaultService { client, fixture async throws in
      try await client.defineStandardFields()
      try await client.put("alice", ["name": "Alice"])
      try await client.put("bob", ["name": "Bob"])
      try await client.put("carol", ["name": "Carol"])
      let queue = try fixture.database()
      try await queue.write { db in
        let sealed = try Data.fetchOne(db, sql: "SELECT value_sealed FROM record_values WHERE subject_id = 'alice'")!
        var bytes = Array(sealed)
        bytes[bytes.count / 2] ^= 0x01
        try db.execute(sql: "UPDATE record_values SET value_sealed = ? WHERE subject_id = 'alice'", arguments: [Data(bytes)])
        // Carol's wrapped data key replaced by Bob's.
        try db.execute(sql: """
          UPDATE data_keys SET wrapped = (SELECT wrapped FROM data_keys WHERE subject_id = 'bob'),
            key_id = (SELECT key_id FROM data_keys WHERE subject_id = 'bob') WHERE subject_id = 'carol'
          """)
      }
      #expect(await capturedRPCError { try await client.get("alice") }?.code == .dataLoss)
      let carol = await capturedRPCError { try await client.get("carol") }
      #expect(carol?.code == .dataLoss && carol?.errorInfoReason == "DATA_KEY_UNREADABLE")
      #expect(try await client.get("bob").value(of: "name") == "Bob")
    }
  }
}

@Suite("Key-encryption keys and rotation")
struct KeyRotationTests {
  @Test("RotateMasterKey rewraps every data key while the service keeps serving; the old key can then go", sqliteOnly)
  func rotationWhileServing() async throws {
    let fixture = try VaultFixture(environment: ["VAULT_MASTER_KEY": "old:\(TestKeys.first)"])
    let subjects = (0..<40).map { "s\($0)" }
    try await fixture.run { client async throws in
      try await client.defineStandardFields()
      for subject in subjects { try await client.put(subject, ["email": "\(subject)@example.com", "iban": "DE\(subject)000000"]) }
    }
    let keyring = "new:\(TestKeys.second),old:\(TestKeys.first)"
    try await fixture.run(environment: ["VAULT_MASTER_KEY": keyring]) { client async throws in
      // Readers and writers run while the rotation runs.
      try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { () async throws in
          for subject in subjects {
            #expect(try await client.get(subject).value(of: "email") == "\(subject)@example.com")
          }
        }
        group.addTask {
          for index in 0..<10 { try await client.put("late\(index)", ["name": "Late \(index)"]) }
        }
        group.addTask { () async throws in
          let outcome = try await client.rotateMasterKey(.init())
          #expect(outcome.activeKeyID == "new")
          #expect(outcome.rewrappedCount == 40)
        }
        try await group.waitForAll()
      }
      let again = try await client.rotateMasterKey(.init())
      #expect(again.rewrappedCount == 0 && again.unchangedCount == 50)
    }
    let counts = try await fixture.database().read { db in
      try Row.fetchAll(db, sql: "SELECT kek_id, COUNT(*) AS n FROM data_keys GROUP BY kek_id").map { ($0["kek_id"] as String, $0["n"] as Int) }
    }
    #expect(counts.count == 1 && counts.first?.0 == "new" && counts.first?.1 == 50)

    // The old key removed: everything still opens, search included.
    try await fixture.run(environment: ["VAULT_MASTER_KEY": "new:\(TestKeys.second)"]) { client async throws in
      for subject in subjects {
        #expect(try await client.reveal(subject, "iban").value == "DE\(subject)000000")
      }
      #expect(try await client.findByField(.with { $0.field = "email"; $0.value = "s7@example.com" }).records.map(\.subjectID) == ["s7"])
      #expect(try await client.get("late3").value(of: "name") == "Late 3")
    }
  }

  @Test("a data key under a key missing from the keyring: KEY_NOT_CONFIGURED, rewrapped keys stay rewrapped", sqliteOnly)
  func missingKey() async throws {
    let fixture = try VaultFixture(environment: ["VAULT_MASTER_KEY": "k1:\(TestKeys.first)"])
    try await fixture.run { client async throws in
      try await client.defineStandardFields()
      for subject in ["a1", "b1", "c1", "d1"] { try await client.put(subject, ["name": subject.uppercased()]) }
    }
    // A stray data key under a key id nobody configures any more.
    try fixture.execute("UPDATE data_keys SET kek_id = 'retired' WHERE subject_id = 'c1'")
    try await fixture.run(environment: ["VAULT_MASTER_KEY": "k2:\(TestKeys.second),k1:\(TestKeys.first)"]) { client async throws in
      let read = await capturedRPCError { try await client.get("c1") }
      #expect(read?.code == .failedPrecondition && read?.errorInfoReason == "KEY_NOT_CONFIGURED")
      let rotation = await capturedRPCError { try await client.rotateMasterKey(.init()) }
      #expect(rotation?.code == .failedPrecondition && rotation?.errorInfoReason == "KEY_NOT_CONFIGURED")
      #expect(try await client.get("b1").value(of: "name") == "B1")
      #expect(try await client.get("d1").value(of: "name") == "D1")
    }
    // Keys before the stray one (in subject order) were rewrapped and stay so; the rest wait.
    let wrappers = try await fixture.database().read { db in
      Dictionary(uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT subject_id, kek_id FROM data_keys").map {
        ($0["subject_id"] as String, $0["kek_id"] as String)
      })
    }
    #expect(wrappers == ["a1": "k2", "b1": "k2", "c1": "retired", "d1": "k1"])
  }

  @Test("the service refuses to start without a key, with a malformed one, or with the wrong one")
  func startupChecks() async throws {
    let fixture = try VaultFixture()
    try await fixture.run { client async throws in try await client.defineStandardFields() }
    func startError(_ environment: [String: String]) async -> ConfigurationError? {
      do {
        _ = try await fixture.makeServer(environment: environment)
        return nil
      } catch let error as ConfigurationError {
        return error
      } catch {
        return nil
      }
    }
    #expect(await startError(["VAULT_MASTER_KEY": ""])?.variable == "VAULT_MASTER_KEY")
    #expect(await startError(["VAULT_MASTER_KEY": "c2hvcnQ="])?.variable == "VAULT_MASTER_KEY")
    // The right length but not the key that wrapped the vault's keys.
    let wrong = await startError(["VAULT_MASTER_KEY": TestKeys.second])
    #expect(wrong?.variable == "VAULT_MASTER_KEY" && wrong?.problem.contains("wrong key") == true)
    let missing = await startError(["VAULT_MASTER_KEY": "other:\(TestKeys.first)"])
    #expect(missing?.problem.contains("default") == true)
    #expect(await startError(["DATABASE_URL": "postgres://u:p@localhost/vault"])?.variable == "DATABASE_URL")
    // The key from a file (as the launcher passes it).
    let keyFile = fixture.directory.path("master.key")
    try (TestKeys.first + "\n").write(toFile: keyFile, atomically: true, encoding: .utf8)
    _ = try await fixture.makeServer(environment: ["VAULT_MASTER_KEY": "", "VAULT_MASTER_KEY_FILE": keyFile])
  }
}

@Suite("Vault configuration")
struct VaultConfigurationTests {
  private func configuration(_ extra: [String: String]) throws -> VaultConfiguration {
    let environment = testEnvironment(database: "/tmp/unused.sqlite", extra: extra)
    return try VaultConfiguration(
      service: try ServiceConfiguration(kind: .vault, environment: environment), environment: EnvironmentReader(environment))
  }

  private func error(_ extra: [String: String]) -> ConfigurationError? {
    do {
      _ = try configuration(extra)
      return nil
    } catch let error as ConfigurationError {
      return error
    } catch {
      return nil
    }
  }

  @Test("a bare key is the keyring `default`; a list names its keys, the first active")
  func keyrings() throws {
    let bare = try configuration(["VAULT_MASTER_KEY": TestKeys.first])
    #expect(bare.settings.keyring.activeKeyID == "default" && bare.settings.keyring.keyIDs == ["default"])
    #expect(bare.settings.kAnonymityThreshold == 5)
    let ring = try configuration(["VAULT_MASTER_KEY": "2025-b:\(TestKeys.second), 2024-a:\(TestKeys.first)", "VAULT_K_ANONYMITY": "10"])
    #expect(ring.settings.keyring.activeKeyID == "2025-b" && ring.settings.keyring.keyIDs == ["2025-b", "2024-a"])
    #expect(ring.settings.kAnonymityThreshold == 10)
  }

  @Test("every bad value names its variable and never echoes key material")
  func badValues() {
    let cases: [[String: String]] = [
      [:],
      ["VAULT_MASTER_KEY": "not base64!"],
      ["VAULT_MASTER_KEY": Data(repeating: 1, count: 16).base64EncodedString()],
      ["VAULT_MASTER_KEY": "a:\(TestKeys.first),a:\(TestKeys.second)"],
      ["VAULT_MASTER_KEY": "a:\(TestKeys.first),"],
      ["VAULT_MASTER_KEY": "bad id:\(TestKeys.first)"],
      ["VAULT_MASTER_KEY": ":\(TestKeys.first)"],
      ["VAULT_MASTER_KEY": TestKeys.first, "VAULT_MASTER_KEY_FILE": "/nonexistent"],
    ]
    for extra in cases {
      let error = error(extra)
      #expect(error?.variable.hasPrefix("VAULT_MASTER_KEY") == true, "\(extra)")
      #expect(error?.description.contains(TestKeys.first) == false)
    }
    #expect(error(["VAULT_MASTER_KEY_FILE": "/nonexistent/key"])?.variable == "VAULT_MASTER_KEY_FILE")
    for k in ["0", "abc", "1001"] {
      #expect(error(["VAULT_MASTER_KEY": TestKeys.first, "VAULT_K_ANONYMITY": k])?.variable == "VAULT_K_ANONYMITY")
    }
  }
}
