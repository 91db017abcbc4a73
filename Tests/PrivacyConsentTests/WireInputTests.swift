import Foundation
import GRPCCore
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Testing

/// Integers and enum numbers straight from the wire, at and past the ends of their ranges.
@Suite("Wire integers and enums")
struct WireInputTests {
  @Test("an after_sequence above 2^63-1 is INVALID_ARGUMENT naming the field, for the list and the feed; 2^63-1 itself is fine")
  func afterSequenceRange() async throws {
    try await withConsentService { client, _ async throws in
      try await client.upsert(purpose("newsletter"))
      try await client.record("c1", "newsletter", .granted)
      for after in [UInt64(Int64.max) + 1, UInt64.max] {
        let list = await capturedRPCError { try await client.listConsentEvents(.with { $0.afterSequence = after }) }
        #expect(list?.code == .invalidArgument && list?.message == "after_sequence must be at most 9223372036854775807")
        let watch = await capturedRPCError {
          try await client.watchConsentEvents(.with { $0.afterSequence = after }) { response in
            for try await _ in response.messages {}
          }
        }
        #expect(watch?.code == .invalidArgument && watch?.message == "after_sequence must be at most 9223372036854775807")
      }
      let last = try await client.listConsentEvents(.with { $0.afterSequence = UInt64(Int64.max) })
      #expect(last.events.isEmpty)
      #expect(try await client.allEvents().count == 1)
    }
  }

  @Test("a forged page token whose cursor is out of range is INVALID_ARGUMENT")
  func forgedPageToken() async throws {
    try await withConsentService { client, _ async throws in
      for cursor in ["18446744073709551615", "9223372036854775808", "-1", "1e3"] {
        let token = PageRequest.token(cursor: cursor, scope: "events||")
        let error = await capturedRPCError { try await client.listConsentEvents(.with { $0.pageToken = token }) }
        #expect(error?.code == .invalidArgument && error?.message == "page_token is not valid for this request", "\(cursor)")
      }
    }
  }

  @Test("an enum number this version does not know is named as such; an unset one is required")
  func unknownEnumValues() async throws {
    try await withConsentService { client, _ async throws in
      try await client.upsert(purpose("newsletter"))
      let unknown = await capturedRPCError { try await client.record("c1", "newsletter", .UNRECOGNIZED(9)) }
      #expect(unknown?.code == .invalidArgument && unknown?.message == "unknown value 9 for decision")
      let unset = await capturedRPCError { try await client.record("c1", "newsletter", .unspecified) }
      #expect(unset?.code == .invalidArgument && unset?.message == "decision is required")
      let channel = await capturedRPCError {
        try await client.record("c1", "newsletter", .granted, evidence: .with { $0.channel = .UNRECOGNIZED(77) })
      }
      #expect(channel?.code == .invalidArgument && channel?.message == "unknown value 77 for evidence.channel")
      #expect(try await client.allEvents().isEmpty)
    }
  }

  @Test("error messages quote at most 64 characters of an id, and an id that cannot be one is refused without quoting it")
  func echoedInputIsClipped() async throws {
    try await withConsentService { client, _ async throws in
      let longID = String(repeating: "s", count: 128)
      let unknown = await capturedRPCError { try await client.getConsentState(.with { $0.subjectID = longID }) }
      #expect(unknown?.code == .notFound && unknown?.message == "subject \(String(repeating: "s", count: 64))… has no consent events")
      let huge = String(repeating: "m", count: 5000)
      let ack = await capturedRPCError { try await client.ackOutbox(.with { $0.messageIds = ["ok-id", huge] }) }
      #expect(ack?.code == .invalidArgument && ack?.message == "message_ids[1] must be 1-64 characters of A-Z a-z 0-9 -")
    }
  }

  @Test("a NUL or another control character in a text is INVALID_ARGUMENT, and the ledger still verifies")
  func controlCharacters() async throws {
    try await withConsentService { client, _ async throws in
      try await client.upsert(purpose("newsletter"))
      try await client.record("c1", "newsletter", .granted)
      let erase = await capturedRPCError { try await client.eraseSubject(.with { $0.subjectID = "c1"; $0.reason = "\u{0}" }) }
      #expect(erase?.code == .invalidArgument && erase?.message == "reason must not contain control characters")
      let restrict = await capturedRPCError {
        try await client.setProcessingRestriction(.with {
          $0.subjectID = "c1"
          $0.restricted = true
          $0.reason = "s"
          $0.evidence = .with { $0.channel = .manual; $0.formName = "x\u{0}" }
        })
      }
      #expect(restrict?.code == .invalidArgument && restrict?.message == "evidence.form_name must not contain control characters")
      #expect(try await client.verify().valid)
      #expect(try await client.allEvents().count == 1)
    }
  }
}
