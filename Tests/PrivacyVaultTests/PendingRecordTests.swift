import Foundation
import GRPCCore
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Testing

@Suite("Pending records: a contact waiting for its double opt-in is sealed, unsearchable and unusable until released")
struct PendingRecordTests {
  static let segment = "segment-pending-41c2"

  private func putPending(_ client: VaultClient, _ subject: String, _ values: [String: String]) async throws -> Privacy_Vault_V1_PutRecordResponse {
    try await client.putRecord(.with {
      $0.subjectID = subject
      $0.values = values
      $0.source = source()
      $0.pending = true
    })
  }

  private func find(_ client: VaultClient, _ field: String, _ value: String) async throws -> [String] {
    try await client.findByField(.with {
      $0.field = field
      $0.value = value
    }).records.map(\.subjectID)
  }

  @Test("every value sealed and no digest while pending; reads show no value, reveals and ordinary writes are refused", sqliteOnly)
  func pending() async throws {
    try await withVaultService { client, fixture async throws in
      try await client.defineStandardFields()
      let written = try await putPending(client, "p1", ["email": "ada@example.com", "segment": Self.segment, "iban": "DE89370400440532013000"])
      #expect(written.created && written.pending)
      #expect(!filesContain(fixture.files, Self.segment))
      let blindIndexes = try await fixture.database().read { db in
        try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM record_values WHERE subject_id = 'p1' AND blind_index IS NOT NULL")
      }
      #expect(blindIndexes == 0)

      let record = try await client.get("p1")
      #expect(record.pending && record.fields.isEmpty)
      #expect(try await find(client, "email", "ada@example.com").isEmpty)
      #expect(try await find(client, "segment", Self.segment).isEmpty)
      let reveal = await capturedRPCError { try await client.reveal("p1", "iban") }
      #expect(reveal?.code == .failedPrecondition && reveal?.errorInfoReason == "RECORD_PENDING")
      let write = await capturedRPCError { try await client.put("p1", ["name": "Ada"]) }
      #expect(write?.code == .failedPrecondition && write?.errorInfoReason == "RECORD_PENDING")

      // A pending write (the webform sent again) updates it; it stays pending.
      let again = try await putPending(client, "p1", ["name": "Ada"])
      #expect(again.pending && !again.created && again.changedFields == ["name"])
      // Access and portability see everything held.
      let exported = try await client.exportRecord(.with {
        $0.subjectID = "p1"
        $0.reason = "art 15 request r-9"
      }).record
      #expect(exported.pending && exported.value(of: "segment") == Self.segment && exported.value(of: "name") == "Ada")

      // A field schema change re-stores values, and a pending record's stay sealed.
      try await client.define(field("segment", .none, searchable: false))
      #expect(!filesContain(fixture.files, Self.segment))
    }
  }

  @Test("ReleaseRecord stores the values as their fields say and makes the record usable; a second release changes nothing", sqliteOnly)
  func release() async throws {
    try await withVaultService { client, fixture async throws in
      try await client.defineStandardFields()
      _ = try await putPending(client, "p1", ["email": "ada@example.com", "segment": Self.segment])
      let released = try await client.releaseRecord(.with {
        $0.subjectID = "p1"
        $0.reason = "double opt-in confirmed"
      })
      #expect(released.released)
      let record = try await client.get("p1")
      #expect(!record.pending && record.value(of: "email") == "ada@example.com")
      #expect(try await find(client, "email", "ada@example.com") == ["p1"])
      #expect(try await find(client, "segment", Self.segment) == ["p1"])
      #expect(filesContain(fixture.files, Self.segment))  // a NONE field not encrypted: in clear now
      _ = try await client.put("p1", ["name": "Ada"])
      let log = try await client.accessLog { $0.subjectID = "p1" }
      #expect(log.filter { $0.kind == .release }.map(\.reason) == ["double opt-in confirmed"])

      let second = try await client.releaseRecord(.with {
        $0.subjectID = "p1"
        $0.reason = "double opt-in confirmed"
      })
      let current = try await client.get("p1")
      #expect(!second.released && second.version == current.version)
      let unknown = await capturedRPCError {
        try await client.releaseRecord(.with {
          $0.subjectID = "nobody"
          $0.reason = "double opt-in confirmed"
        })
      }
      #expect(unknown?.code == .notFound)
      let noReason = await capturedRPCError { try await client.releaseRecord(.with { $0.subjectID = "p1" }) }
      #expect(noReason?.code == .invalidArgument)
    }
  }

  @Test("a pending write to a record that is not pending is an ordinary write; only_if_pending erases only a pending record")
  func erasureOnlyIfPending() async throws {
    try await withVaultService { client, _ async throws in
      try await client.defineStandardFields()
      try await client.put("known", ["email": "known@example.com"])
      let ordinary = try await putPending(client, "known", ["name": "Known"])
      let known = try await client.get("known")
      #expect(!ordinary.pending && known.value(of: "name") == "Known")

      let refused = await capturedRPCError {
        try await client.erasePersonalData(.with {
          $0.subjectID = "known"
          $0.reason = "double opt-in expired"
          $0.onlyIfPending = true
        })
      }
      #expect(refused?.code == .failedPrecondition && refused?.errorInfoReason == "RECORD_NOT_PENDING")
      let kept = try await client.get("known")
      #expect(!kept.erased)

      _ = try await putPending(client, "waiting", ["email": "waiting@example.com", "iban": "DE89370400440532013000"])
      let erased = try await client.erasePersonalData(.with {
        $0.subjectID = "waiting"
        $0.reason = "double opt-in expired"
        $0.onlyIfPending = true
      })
      #expect(erased.keyDestroyed && erased.erasedFields == ["email", "iban"])
      // Discarded altogether: the record is gone, the access log says so, and signing up again
      // starts afresh.
      let gone = await capturedRPCError {
        try await client.exportRecord(.with {
          $0.subjectID = "waiting"
          $0.reason = "checking the erasure"
        })
      }
      #expect(gone?.code == .notFound)
      #expect(try await client.accessLog { $0.subjectID = "waiting" }.last?.detail.contains("record discarded") == true)
      let again = try await putPending(client, "waiting", ["email": "waiting@example.com"])
      #expect(again.created && again.pending)
    }
  }
}
