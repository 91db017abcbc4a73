import Foundation
import GRPCCore
import PrivacyGateway
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Testing

/// On the nghttp2 transport the gateway's unary backend routes run in a task of their own
/// (`UnaryRoute.servedInTask`); on the grpc-swift-nio transport GRPCCore runs them. Callers
/// and the audit log must not tell the two apart.
@Suite("Gateway routes in a task: the same answers and entries as through GRPCCore")
struct TaskRoutesTests {
  /// Who asks for which subject's record: answered, filtered two ways, NOT_FOUND from the vault,
  /// INVALID_ARGUMENT, PERMISSION_DENIED, UNAUTHENTICATED.
  private static let questions: [(authorization: String, subject: String)] = [
    ("Bearer \(apiKey("support"))", TestData.subject), ("Bearer \(apiKey("marketing"))", TestData.subject),
    ("Bearer \(apiKey("support"))", "c-unknown"), ("Bearer \(apiKey("support"))", ""),
    ("Bearer \(apiKey("auditor"))", TestData.subject), ("Bearer support-key.wrong", TestData.subject),
  ]

  /// Each answer as text (the record, or the error's code and message), with whether it
  /// carried the call's request id; then the audit entries the pass added, oldest first.
  private func pass(_ port: Int) async throws -> (answers: [String], entries: [Privacy_Gateway_V1_AuditEntry]) {
    var answers: [String] = []
    for question in Self.questions {
      let answer = try await withGatewayClient(port: port, authorization: question.authorization) { client async throws -> String in
        do {
          return try await VaultClient(wrapping: client).getRecord(
            .with { $0.subjectID = question.subject }, metadata: [:], options: .defaults
          ) { response async throws in
            let id = response.metadata[stringValues: MetadataKey.requestID].first(where: { _ in true }) ?? ""
            return "OK, request id \(!id.isEmpty): \(try response.message.textFormatString())"
          }
        } catch let error as RPCError {
          let id = error.metadata[stringValues: MetadataKey.requestID].first(where: { _ in true }) ?? ""
          return "\(error.code), request id \(!id.isEmpty): \(error.message)"
        }
      }
      answers.append(answer)
    }
    let entries = try await asRole("dpo", port: port) { client async throws in
      try await AdminClient(wrapping: client).listAudit(.with { $0.method = "privacy.vault.v1.VaultService/GetRecord" }).entries
    }
    return (answers, entries.reversed())
  }

  /// An entry without what differs from call to call (sequence, time, request id, hashes).
  private func comparable(_ entry: Privacy_Gateway_V1_AuditEntry) -> String {
    "\(entry.actor) \(entry.role) \(entry.subjectID) \(entry.fieldsRevealed) \(entry.statusCode) \(entry.statusMessage)"
  }

  @Test("GetRecord through the gateway: records filtered per role, errors and audit entries alike on both transports")
  func sameAnswersAndEntries() async throws {
    let fixture = try GatewayFixture()
    let inTask = try await fixture.run { port, backends async throws in
      try await TestData.seed(vaultPort: backends[.vault]!)
      return try await pass(port)
    }
    let throughCore = try await fixture.run(gatewayEnvironment: ["GRPC_TRANSPORT": "nio"]) { port, _ async throws in
      let all = try await pass(port)
      return (answers: all.answers, entries: Array(all.entries.dropFirst(inTask.entries.count)))
    }
    #expect(inTask.answers == throughCore.answers)
    #expect(inTask.entries.map(comparable) == throughCore.entries.map(comparable))
    #expect(inTask.entries.count == Self.questions.count)
    // The record reached the support role, masked as its policy says; every answer named its call.
    #expect(inTask.answers[0].hasPrefix("OK, request id true") && inTask.answers[0].contains("****3000"))
    #expect(!inTask.answers.contains { $0.contains(TestData.iban) })
    #expect(inTask.answers.allSatisfy { $0.contains("request id true") }, "\(inTask.answers)")
    #expect(inTask.answers[2].hasPrefix("notFound") && inTask.answers[3].hasPrefix("invalidArgument"))
    #expect(inTask.answers[4].hasPrefix("permissionDenied") && inTask.answers[5].hasPrefix("unauthenticated"))
  }
}
