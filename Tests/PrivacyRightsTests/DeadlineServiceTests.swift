import Foundation
import GRPCCore
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Testing

@Suite("Extending deadlines")
struct DeadlineServiceTests {
  private func extend(_ client: RightsClient, _ id: String, _ months: Int32, reason: String = "many requests this month") async throws -> DSR {
    try await client.extendDeadline(.with {
      $0.requestID = id
      $0.months = months
      $0.reason = reason
    }).request
  }

  @Test("two extensions of one month equal one of two; more is refused with the months left")
  func extend() async throws {
    let fixture = try RightsFixture(start: utc(2027, 11, 30, 8))
    try await fixture.run { client async throws in
      let a = try await client.open()
      let b = try await client.open(subject: "c-2")
      #expect(a.dueAt.date == utc(2027, 12, 30, 8))
      let once = try await extend(client, a.requestID, 1)
      #expect(once.dueAt.date == utc(2028, 1, 30, 8) && once.originalDueAt.date == utc(2027, 12, 30, 8))
      let twice = try await extend(client, a.requestID, 1)
      let both = try await extend(client, b.requestID, 2)
      #expect(twice.dueAt.date == utc(2028, 2, 29, 8) && both.dueAt == twice.dueAt)
      #expect(twice.extensions.map(\.months) == [1, 1] && twice.extensions[1].dueAt == twice.dueAt)
      #expect(twice.extensions[0].extendedBy == "dpo-anna" && twice.extensions[0].reason == "many requests this month")

      let error = await capturedRPCError { try await extend(client, a.requestID, 1) }
      #expect(error?.code == .failedPrecondition && error?.errorInfoReason == "EXTENSION_LIMIT")
      let info = try #require(try error?.unpackGoogleRPCStatus()?.details.compactMap(\.errorInfo).first)
      #expect(info.metadata["months_left"] == "0")
      try await expectRefused(client, .failedPrecondition, "EXTENSION_LIMIT") { _ = try await extend(client, a.requestID, 1) }

      let c = try await client.open(subject: "c-3")
      _ = try await extend(client, c.requestID, 1)
      try await expectRefused(client, .failedPrecondition, "EXTENSION_LIMIT") { _ = try await extend(client, c.requestID, 2) }

      let messages = try await client.pendingOutbox().filter { $0.kind == .deadlineExtended }
      #expect(messages.count == 4 && messages.allSatisfy { $0.body.contains("many requests this month") })
    }
  }

  @Test("bad months, a missing reason and a passed deadline are refused and change nothing")
  func refused() async throws {
    try await withRightsService { client, fixture async throws in
      let request = try await client.open()
      for months: Int32 in [0, 3, -1] {
        try await expectRefused(client, .invalidArgument) { _ = try await extend(client, request.requestID, months) }
      }
      try await expectRefused(client, .invalidArgument) { _ = try await extend(client, request.requestID, 1, reason: " ") }
      try await expectRefused(client, .invalidArgument) {
        _ = try await extend(client, request.requestID, 1, reason: String(repeating: "r", count: 2001))
      }
      try await expectRefused(client, .notFound) { _ = try await extend(client, "ghost", 1) }
      fixture.clock.advance(by: 40 * 86_400)
      #expect(try await client.get(request.requestID).overdue)
      try await expectRefused(client, .failedPrecondition, "DEADLINE_PASSED") { _ = try await extend(client, request.requestID, 1) }
    }
  }
}
