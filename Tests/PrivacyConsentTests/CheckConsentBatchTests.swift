import Foundation
import GRPCCore
import PrivacyConsent
import PrivacyProtocol
import PrivacyTesting
import Testing

@Suite("CheckConsentBatch")
struct CheckConsentBatchTests {
  @Test("each pair gets the answer CheckConsent gives it, in the order asked, repeats included")
  func answersInOrder() async throws {
    try await withConsentService { client, _ async throws in
      try await client.upsert(purpose("newsletter"))
      try await client.upsert(purpose("analytics", basis: .legitimateInterests, category: .engagementTracking))
      try await client.record("c1", "newsletter", .granted)
      try await client.record("c2", "newsletter", .withdrawn)
      try await client.record("c2", "analytics", .withdrawn)
      let pairs = [
        ("c1", "newsletter"), ("c2", "newsletter"), ("c3", "newsletter"), ("c1", "analytics"), ("c2", "analytics"), ("c1", "newsletter"),
      ]
      let batch = try await client.checkConsentBatch(.with { $0.checks = pairs.map(Self.check) })
      #expect(batch.answers.count == pairs.count)
      for (pair, answer) in zip(pairs, batch.answers) {
        #expect(answer == (try await client.check(pair.0, pair.1)), "\(pair)")
      }
      #expect(batch.answers.map(\.allowed) == [true, false, false, true, false, true])
      #expect(batch.answers.map(\.reason) == [.granted, .withdrawn, .noDecision, .basisApplies, .objected, .granted])
    }
  }

  @Test("1,000 pairs are answered; 1,001, none, a malformed id or an unknown purpose are refused by name")
  func limitsAndErrors() async throws {
    try await withConsentService { client, _ async throws in
      try await client.upsert(purpose("newsletter"))
      try await client.record("c-7", "newsletter", .granted)
      let full = (0..<1000).map { Self.check(("c-\($0)", "newsletter")) }
      let answers = try await client.checkConsentBatch(.with { $0.checks = full }).answers
      #expect(answers.count == 1000)
      #expect(answers.indices.filter { answers[$0].allowed } == [7])

      var error = await capturedRPCError {
        try await client.checkConsentBatch(.with { $0.checks = full + [Self.check(("c-1", "newsletter"))] })
      }
      #expect(error?.code == .invalidArgument)
      #expect(error?.message == "checks must hold 1 to 1000 items, got 1001")
      error = await capturedRPCError { try await client.checkConsentBatch(.with { $0.checks = [] }) }
      #expect(error?.code == .invalidArgument)
      #expect(error?.message == "checks must hold 1 to 1000 items, got 0")
      error = await capturedRPCError {
        try await client.checkConsentBatch(.with { $0.checks = [Self.check(("c-1", "newsletter")), Self.check(("ada@example.org", "newsletter"))] })
      }
      #expect(error?.code == .invalidArgument)
      #expect(error?.message.hasPrefix("checks[1]: subject_id must be") == true)
      #expect(error?.message.contains("@") == false)
      error = await capturedRPCError {
        try await client.checkConsentBatch(.with { $0.checks = [Self.check(("c-1", "newsletter")), Self.check(("c-1", ""))] })
      }
      #expect(error?.message == "checks[1]: purpose_id is required")
      error = await capturedRPCError {
        try await client.checkConsentBatch(.with { $0.checks = [Self.check(("c-1", "newsletter")), Self.check(("c-1", "nope"))] })
      }
      #expect(error?.code == .notFound)
      #expect(error?.message.contains("nope") == true)
    }
  }

  static func check(_ pair: (String, String)) -> Privacy_Consent_V1_CheckConsentRequest {
    .with {
      $0.subjectID = pair.0
      $0.purposeID = pair.1
    }
  }
}
