import Foundation
import GRPCCore
import PrivacyConsent
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Testing

/// `Purpose.ask_when` and the subject attributes it reads.
@Suite("Which purposes a subject is asked")
struct AskWhenTests {
  @Test("the grammar: ==, != and in, joined by and before or; a missing attribute equals nothing", arguments: [
    ("", [:], true),
    (#"region == "EU""#, ["region": "EU"], true),
    (#"region == "EU""#, [:], false),
    (#"region != "EU""#, [:], true),
    (#"region == "EU" and stage in ["ready_to_buy", "customer"]"#, ["region": "EU", "stage": "customer"], true),
    (#"region == "EU" and stage in ["ready_to_buy", "customer"]"#, ["region": "EU", "stage": "lead"], false),
    (#"region == "US" or region == "EU" and stage == "lead""#, ["region": "EU", "stage": "lead"], true),
    (#"region == "US" or region == "EU" and stage == "lead""#, ["region": "EU"], false),
  ] as [(String, [String: String], Bool)])
  func grammar(text: String, attributes: [String: String], holds: Bool) throws {
    #expect(try AskCondition(text).holds(for: attributes) == holds)
  }

  @Test("a malformed condition is refused with what was expected", arguments: [
    #"region = "EU""#, #"region == EU"#, #"region == "EU" and"#, #"Region == "EU""#, #"region in "EU""#,
    #"region in ["EU""#, #"region == "E\U""#, #"region == "EU" region == "US""#, #"and == "x""#,
  ])
  func malformed(text: String) {
    #expect(throws: AskCondition.ConditionError.self) { try AskCondition(text) }
  }

  @Test("GetConsentState names the purposes to ask by the subject's attributes; SetSubjectAttributes replaces them")
  func purposesToAsk() async throws {
    try await withConsentService { client, _ in
      var eu = purpose("partners", category: .thirdPartySharing)
      eu.askWhen = #"region == "EU""#
      _ = try await client.upsert(eu)
      _ = try await client.upsert(purpose("newsletter"))
      #expect(try await client.listPurposes(.init()).purposes.first { $0.purposeID == "partners" }?.askWhen == #"region == "EU""#)
      _ = try await client.record("c1", "newsletter", .granted)
      func toAsk() async throws -> [String] { try await client.getConsentState(.with { $0.subjectID = "c1" }).purposesToAsk }
      #expect(try await toAsk() == ["newsletter"])
      let set = try await client.setSubjectAttributes(.with { $0.subjectID = "c1"; $0.attributes = ["region": "EU", "stage": "lead"] })
      #expect(set.purposesToAsk == ["newsletter", "partners"])
      #expect(try await toAsk() == ["newsletter", "partners"])
      _ = try await client.setSubjectAttributes(.with { $0.subjectID = "c1"; $0.attributes = ["stage": "lead"] })
      #expect(try await toAsk() == ["newsletter"])
    }
  }

  @Test("bad conditions and attributes are refused precisely; an erased subject's attributes are gone and cannot be set")
  func refusals() async throws {
    try await withConsentService { client, _ in
      var bad = purpose("partners")
      bad.askWhen = "region ="
      let refused = await capturedRPCError { try await client.upsert(bad) }
      #expect(refused?.code == .invalidArgument && refused?.message.hasPrefix("purpose.ask_when") == true)
      #expect(try await client.listPurposes(.init()).purposes.isEmpty)
      let name = await capturedRPCError { try await client.setSubjectAttributes(.with { $0.subjectID = "c1"; $0.attributes = ["Region": "EU"] }) }
      #expect(name?.code == .invalidArgument)
      let long = await capturedRPCError {
        try await client.setSubjectAttributes(.with { $0.subjectID = "c1"; $0.attributes = ["region": String(repeating: "x", count: 201)] })
      }
      #expect(long?.code == .invalidArgument)
      let many = await capturedRPCError {
        try await client.setSubjectAttributes(.with {
          $0.subjectID = "c1"
          $0.attributes = Dictionary(uniqueKeysWithValues: (0...50).map { ("a\($0)", "x") })
        })
      }
      #expect(many?.code == .invalidArgument)
      _ = try await client.eraseSubject(.with { $0.subjectID = "c1"; $0.reason = "art 17" })
      let erased = await capturedRPCError { try await client.setSubjectAttributes(.with { $0.subjectID = "c1"; $0.attributes = ["region": "EU"] }) }
      #expect(erased?.code == .failedPrecondition && erased?.errorInfoReason == "SUBJECT_ERASED")
    }
  }
}
