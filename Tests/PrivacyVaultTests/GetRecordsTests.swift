import Foundation
import GRPCCore
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Testing

@Suite("GetRecords")
struct GetRecordsTests {
  @Test("each subject gets its record as GetRecord shows it, in the order asked; an unknown one gets none")
  func recordsInOrder() async throws {
    try await withVaultService { client, _ async throws in
      try await client.defineStandardFields()
      try await client.put("c1", ["email": "ada@example.com", "iban": "DE89370400440532013000"])
      try await client.put("c2", ["name": "Grace Hopper", "purchase_total": "12.00"])
      try await client.put("c3", ["email": "alan@example.com"])
      _ = try await client.erase("c3")
      let asked = ["c2", "nobody", "c1", "c3", "c2"]
      let results = try await client.getRecords(.with { $0.subjectIds = asked }).results
      #expect(results.map(\.subjectID) == asked)
      #expect(results.map(\.hasRecord) == [true, false, true, true, true])
      for result in results where result.hasRecord {
        #expect(result.record == (try await client.get(result.subjectID)), "\(result.subjectID)")
      }
      #expect(results[2].record.value(of: "iban") == "****3000")
      #expect(results[3].record.erased && (results[3].record.value(of: "email") ?? "").isEmpty)
    }
  }

  @Test("100 subjects are answered; 101, none or a malformed id are refused by index, naming no value")
  func limitsAndErrors() async throws {
    try await withVaultService { client, _ async throws in
      try await client.defineStandardFields()
      try await client.put("s-42", ["email": "ada@example.com"])
      let hundred = (0..<100).map { "s-\($0)" }
      let results = try await client.getRecords(.with { $0.subjectIds = hundred }).results
      #expect(results.indices.filter { results[$0].hasRecord } == [42])

      var error = await capturedRPCError { try await client.getRecords(.with { $0.subjectIds = hundred + ["s-100"] }) }
      #expect(error?.code == .invalidArgument)
      #expect(error?.message == "subject_ids must hold 1 to 100 items, got 101")
      error = await capturedRPCError { try await client.getRecords(.with { $0.subjectIds = [] }) }
      #expect(error?.message == "subject_ids must hold 1 to 100 items, got 0")
      error = await capturedRPCError { try await client.getRecords(.with { $0.subjectIds = ["s-1", "s-2", "ada@example.com"] }) }
      #expect(error?.code == .invalidArgument)
      #expect(error?.message.hasPrefix("subject_ids[2]: subject_id must be") == true)
      #expect(error?.message.contains("@") == false)
    }
  }
}
