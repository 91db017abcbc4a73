import Foundation
import GRPCCore
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Testing

@Suite("Opening requests")
struct IntakeTests {
  @Test("a request opens in RECEIVED, due one calendar month after receipt, with who opened it")
  func open() async throws {
    let fixture = try RightsFixture(start: utc(2027, 1, 31, 10))
    try await fixture.run { client async throws in
      let request = try await client.open(right: .erasure, details: .with { $0.note = "please delete everything" })
      #expect(request.status == .received && request.right == .erasure && request.origin == .dataSubject)
      #expect(!request.requestID.isEmpty && request.subjectID == "c-1" && request.requesterEmail == "anna@example.com")
      #expect(request.receivedAt.date == utc(2027, 1, 31, 10))
      #expect(request.dueAt.date == utc(2027, 2, 28, 10) && request.originalDueAt == request.dueAt)
      #expect(!request.overdue && request.openedBy == "dpo-anna" && request.channel == .email)
      #expect(request.details.note == "please delete everything")
      #expect(request.verification.attemptsLeft == 5 && !request.verification.locked)
      #expect(try await client.get(request.requestID) == request)

      // A letter opened late: the deadline runs from when it was received.
      let late = try await client.open(right: .access, receivedAt: utc(2026, 12, 31, 9))
      #expect(late.dueAt.date == utc(2027, 1, 31, 9) && late.overdue)
    }
  }

  @Test("an idempotency key returns the request opened first")
  func idempotency() async throws {
    try await withRightsService { client, _ async throws in
      let first = try await client.openRequest(.with {
        $0.right = .erasure
        $0.subjectID = "c-9"
        $0.origin = .retention
        $0.idempotencyKey = "retention:c-9:2026-09"
      })
      #expect(first.created && first.request.origin == .retention && first.request.requesterEmail.isEmpty)
      let second = try await client.openRequest(.with {
        $0.right = .erasure
        $0.subjectID = "c-9"
        $0.origin = .retention
        $0.idempotencyKey = "retention:c-9:2026-09"
      })
      #expect(!second.created && second.request == first.request)
      #expect(try await client.snapshot().requests.count == 1)
    }
  }

  @Test("rectification and objection details are kept")
  func details() async throws {
    try await withRightsService { client, _ async throws in
      let rectification = try await client.open(right: .rectification, details: .with {
        $0.rectification = .with { $0.changes = ["last_name": "Schmidt", "phone": ""] }
      })
      #expect(rectification.details.rectification.changes == ["last_name": "Schmidt", "phone": ""])
      let objection = try await client.open(right: .objection, details: .with {
        $0.objection = .with {
          $0.purposeIds = ["profiling", "profiling", "analytics"]
          $0.directMarketing = true
        }
      })
      #expect(objection.details.objection.purposeIds == ["profiling", "analytics"] && objection.details.objection.directMarketing)
      let anonymous = try await client.open(right: .access, subject: "")
      #expect(anonymous.subjectID.isEmpty)
    }
  }

  @Test("bad input is INVALID_ARGUMENT and stores nothing")
  func badInput() async throws {
    try await withRightsService { client, fixture async throws in
      func refused(_ name: String, _ build: @escaping (inout Privacy_Rights_V1_OpenRequestRequest) -> Void) async throws {
        try await expectRefused(client, .invalidArgument) {
          var request = Privacy_Rights_V1_OpenRequestRequest.with {
            $0.right = .access
            $0.subjectID = "c-1"
            $0.requesterEmail = "anna@example.com"
            $0.channel = .webform
          }
          build(&request)
          _ = try await client.openRequest(request)
        }
      }
      try await refused("no right") { $0.right = .unspecified }
      try await refused("unknown right") { $0.right = .UNRECOGNIZED(42) }
      try await refused("no channel") { $0.channel = .unspecified }
      try await refused("no email") { $0.requesterEmail = "" }
      try await refused("bad email") { $0.requesterEmail = "anna@example" }
      try await refused("bad subject") { $0.subjectID = "anna@example.com" }
      try await refused("future receipt") { $0.receivedAt = fixture.clock.now().addingTimeInterval(600).protoTimestamp }
      try await refused("rectification elsewhere") { $0.details = .with { $0.rectification = .with { $0.changes = ["a": "b"] } } }
      try await refused("rectification without changes") {
        $0.right = .rectification
        $0.details = .with { $0.rectification = .with { _ in } }
      }
      try await refused("rectification without details") { $0.right = .rectification }
      try await refused("bad field name") {
        $0.right = .rectification
        $0.details = .with { $0.rectification = .with { $0.changes = ["Last Name": "x"] } }
      }
      try await refused("objection elsewhere") { $0.details = .with { $0.objection = .with { $0.directMarketing = true } } }
      try await refused("empty objection") {
        $0.right = .objection
        $0.details = .with { $0.objection = .with { _ in } }
      }
      try await refused("long note") { $0.details = .with { $0.note = String(repeating: "n", count: 10_001) } }
      try await refused("long key") { $0.idempotencyKey = String(repeating: "k", count: 129) }
      try await refused("retention access") { $0.origin = .retention }
      try await refused("unknown origin") { $0.origin = .UNRECOGNIZED(9) }
      #expect(try await client.snapshot().requests.isEmpty)

      // A controller-initiated request needs neither channel nor email.
      let controller = try await client.openRequest(.with {
        $0.right = .restriction
        $0.subjectID = "c-1"
        $0.origin = .controller
      })
      #expect(controller.request.origin == .controller && controller.request.channel == .unspecified)
    }
  }
}
