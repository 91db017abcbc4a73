import Foundation
import GRPCCore
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Testing

/// On SQLite and the nghttp2 transport, GetRecord is read on the vault's worker threads
/// (`VaultHandler.synchronousMethods`); on the grpc-swift-nio transport it runs in a task. Both
/// must give the same answers, errors included.
@Suite("GetRecord off the task pool")
struct GetRecordTransportTests {
  /// Answers of one server to the same questions: records, then the errors' codes and messages.
  private func answers(_ client: VaultClient) async throws -> (records: [Privacy_Vault_V1_Record], errors: [String]) {
    var records: [Privacy_Vault_V1_Record] = []
    for subject in ["c1", "p1"] { records.append(try await client.get(subject)) }
    var errors: [String] = []
    for subject in ["c9", "", "bad\u{0}id", String(repeating: "x", count: 300)] {
      let error = await capturedRPCError { try await client.get(subject) }
      errors.append("\(error?.code.description ?? "no error"): \(error?.message ?? "")")
    }
    return (records, errors)
  }

  @Test("the same records and the same errors on the nghttp2 transport as in a task on the nio transport", sqliteOnly)
  func sameAnswers() async throws {
    let fixture = try VaultFixture()
    let onWorkers = try await fixture.run { client in
      try await client.defineStandardFields()
      try await client.put("c1", ["email": "ada@example.com", "iban": "DE89370400440532013000", "diagnosis": "asthma"], source: source(ip: "203.0.113.9"))
      _ = try await client.putRecord(.with {
        $0.subjectID = "p1"
        $0.values = ["email": "pending@example.com"]
        $0.source = source()
        $0.pending = true
      })
      return try await answers(client)
    }
    let inTasks = try await fixture.run(environment: ["GRPC_TRANSPORT": "nio"]) { client in try await answers(client) }
    #expect(onWorkers.records == inTasks.records)
    #expect(onWorkers.errors == inTasks.errors)
    #expect(onWorkers.records[0].fields.first { $0.name == "iban" }?.value == "****3000")
    #expect(onWorkers.records[1].pending && onWorkers.records[1].fields.isEmpty)
    #expect(onWorkers.errors[0].hasPrefix("notFound"), "\(onWorkers.errors)")
    #expect(onWorkers.errors.dropFirst().allSatisfy { $0.hasPrefix("invalidArgument") }, "\(onWorkers.errors)")
    // No error quotes the subject id it was asked for.
    #expect(!onWorkers.errors.contains { $0.contains("xxxxxxxxxx") })
  }

  @Test("200 GetRecords in flight on one connection each get their own subject's record")
  func manyInFlight() async throws {
    try await withVaultService { client, _ async throws in
      try await client.defineStandardFields()
      for index in 0..<20 { try await client.put("s\(index)", ["email": "person\(index)@example.com"]) }
      let answers = try await withThrowingTaskGroup(of: (String, Privacy_Vault_V1_Record).self) { group in
        for call in 0..<200 {
          let subject = "s\(call % 20)"
          group.addTask { (subject, try await client.get(subject)) }
        }
        return try await group.reduce(into: []) { $0.append($1) }
      }
      #expect(answers.count == 200)
      for (subject, record) in answers {
        #expect(record.subjectID == subject)
        #expect(record.value(of: "email") == "person\(subject.dropFirst())@example.com")
      }
    }
  }
}
