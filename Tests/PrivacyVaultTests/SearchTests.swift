import Foundation
import GRPCCore
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Testing

@Suite("FindByField through the blind index")
struct SearchTests {
  private func find(_ client: VaultClient, _ field: String, _ value: String, size: Int32 = 0, token: String = "") async throws -> Privacy_Vault_V1_FindByFieldResponse {
    try await client.findByField(.with {
      $0.field = field
      $0.value = value
      $0.pageSize = size
      $0.pageToken = token
    })
  }

  @Test("an encrypted searchable field is found by exact value after normalization", sqliteOnly)
  func exactMatch() async throws {
    try await withVaultService { client, fixture async throws in
      try await client.defineStandardFields()
      try await client.put("c2", ["email": "Ada@Example.com", "iban": "DE89370400440532013000"])
      try await client.put("c1", ["email": "ada@example.com"])
      try await client.put("c3", ["email": "ada@example.org"])
      let found = try await find(client, "email", "  ADA@EXAMPLE.COM ")
      #expect(found.records.map(\.subjectID) == ["c1", "c2"])
      #expect(found.records[1].value(of: "iban") == "****3000")  // as GetRecord shows it
      #expect(found.withheldFields.isEmpty)
      // NFKC: a full-width form matches its ASCII form.
      #expect(try await find(client, "email", "ａｄａ@example.com").records.count == 2)
      #expect(try await find(client, "email", "ada@example").records.isEmpty)
      // No digest or clear value of the search term is on disk in a readable form.
      #expect(!filesContain(fixture.files, "ada@example.com"))
    }
  }

  @Test("NONE searchable fields work the same; erased values are no longer found")
  func plainAndErased() async throws {
    try await withVaultService { client, _ async throws in
      try await client.defineStandardFields()
      try await client.put("c1", ["segment": "VIP", "phone": "+49 30 1234567"])
      try await client.put("c2", ["segment": "vip"])
      #expect(try await find(client, "segment", "vip").records.map(\.subjectID) == ["c1", "c2"])
      #expect(try await find(client, "phone", "+49 30 1234567").records.map(\.subjectID) == ["c1"])
      _ = try await client.eraseFields(.with { $0.subjectID = "c1"; $0.fields = ["phone", "segment"] })
      #expect(try await find(client, "phone", "+49 30 1234567").records.isEmpty)
      #expect(try await find(client, "segment", "vip").records.map(\.subjectID) == ["c2"])
    }
  }

  @Test("results come in pages ordered by subject id, with tokens bound to field and value")
  func paging() async throws {
    try await withVaultService { client, _ async throws in
      try await client.defineStandardFields()
      for index in 0..<7 { try await client.put("s\(index)", ["segment": "gold"]) }
      try await client.put("x1", ["segment": "silver"])
      var subjects: [String] = []
      var token = ""
      repeat {
        let page = try await find(client, "segment", "gold", size: 3, token: token)
        subjects += page.records.map(\.subjectID)
        token = page.nextPageToken
      } while !token.isEmpty
      #expect(subjects == (0..<7).map { "s\($0)" })
      let first = try await find(client, "segment", "gold", size: 3)
      let other = await capturedRPCError { try await find(client, "segment", "silver", size: 3, token: first.nextPageToken) }
      #expect(other?.code == .invalidArgument)
    }
  }

  @Test("bad searches are refused with the contract's codes")
  func badSearches() async throws {
    try await withVaultService { client, _ async throws in
      try await client.defineStandardFields()
      try await client.put("c1", ["name": "Ada"])
      let notSearchable = await capturedRPCError { try await find(client, "name", "Ada") }
      #expect(notSearchable?.code == .failedPrecondition && notSearchable?.errorInfoReason == "FIELD_NOT_SEARCHABLE")
      #expect(await capturedRPCError { try await find(client, "shoe_size", "42") }?.code == .notFound)
      #expect(await capturedRPCError { try await find(client, "Email", "x") }?.code == .invalidArgument)
      #expect(await capturedRPCError { try await find(client, "email", "  ") }?.code == .invalidArgument)
      #expect(await capturedRPCError { try await find(client, "email", "x", size: -2) }?.code == .invalidArgument)
      #expect(await capturedRPCError { try await find(client, "email", "x", token: "nope") }?.code == .invalidArgument)
    }
  }
}
