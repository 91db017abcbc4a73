import Foundation
import GRDB
import GRPCCore
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Testing

@Suite("Identity verification")
struct VerificationTests {
  @Test("the token goes out in the outbox; confirming it verifies the request; only its hash is stored")
  func confirm() async throws {
    try await withRightsService { client, fixture async throws in
      let request = try await client.open()
      let started = try await client.startVerification(.with { $0.requestID = request.requestID })
      #expect(started.request.status == .verifying)
      #expect(started.expiresAt.date == fixture.clock.now().microsecondPrecision.addingTimeInterval(72 * 3600))
      #expect(started.request.verification.tokensIssued == 1 && started.request.verification.tokenExpiresAt == started.expiresAt)

      let message = try #require(try await client.pendingOutbox().first)
      #expect(message.messageID == started.messageID && message.kind == .verification && message.requestID == request.requestID)
      #expect(message.recipientEmail == "anna@example.com" && message.expiresAt == started.expiresAt)
      let token = message.token
      #expect(token.count >= 43)  // 256 bits, base64url
      #expect(message.link == "https://privacy.example.com/requests/verify?request_id=\(request.requestID)&token=\(token)")
      #expect(message.body.contains(token) && message.body.contains(message.link))
      let body = try await fixture.storedRequestBodies().first
      #expect(body?.contains(SecureToken.hash(token)) == true && body?.contains(token) == false)

      fixture.clock.advance(by: 3600)
      let verified = try await client.confirm(request.requestID, token)
      #expect(verified.status == .verified && verified.verification.method == .emailToken)
      #expect(verified.verification.verifiedAt.date == fixture.clock.now().microsecondPrecision)
      #expect(verified.verification.verifiedBy == "dpo-anna")

      try await expectRefused(client, .failedPrecondition, "TOKEN_ALREADY_USED") { _ = try await client.confirm(request.requestID, token) }
      try await expectRefused(client, .failedPrecondition, "ALREADY_VERIFIED") { _ = try await client.confirm(request.requestID, "other") }
      try await expectRefused(client, .failedPrecondition, "ALREADY_VERIFIED") {
        _ = try await client.startVerification(.with { $0.requestID = request.requestID })
      }

      // Acknowledging the message wipes the clear token from the outbox and the files.
      _ = try await client.ackOutbox(.with { $0.messageIds = [message.messageID] })
      let acked = try await client.listOutbox(.with { $0.includeAcked = true }).messages
      #expect(acked.count == 1 && acked[0].token.isEmpty && acked[0].body.isEmpty && acked[0].link.isEmpty && acked[0].hasAckedAt)
      #expect(try await client.pendingOutbox().isEmpty)
      #expect(try await !fixture.holds(token))
    }
  }

  @Test("every mail to the requester ends with the preference-page link the call gives; a malformed one is refused and queues nothing")
  func preferenceFooter() async throws {
    try await withRightsService { client, _ async throws in
      let link = "https://privacy.example.com/p/abc_DEF-123"
      let footer = "\n\n-- \nYour privacy preferences: \(link)"
      for bad in ["javascript:alert(1)", "https://privacy.example.com/p/a b", "ftp://privacy.example.com/p/x", "/p/relative"] {
        let request = try await client.open()
        try await expectRefused(client, .invalidArgument) {
          _ = try await client.startVerification(.with { $0.requestID = request.requestID; $0.preferenceURL = bad })
        }
      }
      #expect(try await client.pendingOutbox().isEmpty)

      let request = try await client.open()
      _ = try await client.startVerification(.with { $0.requestID = request.requestID; $0.preferenceURL = link })
      _ = try await client.extendDeadline(.with {
        $0.requestID = request.requestID
        $0.months = 1
        $0.reason = "many requests this month"
        $0.preferenceURL = link
      })
      _ = try await client.rejectRequest(.with { $0.requestID = request.requestID; $0.reason = "identity not verifiable"; $0.preferenceURL = link })
      let completed = try await client.inProgress(right: .access, subject: "c-2").requestID
      _ = try await client.complete(completed, artifact: exportBundle(10), preferenceURL: link)
      let unlinked = try await client.inProgress(right: .objection, subject: "c-3", details: .with { $0.objection = .with { $0.directMarketing = true } })
      _ = try await client.complete(unlinked.requestID)

      let messages = try await client.pendingOutbox()
      let linked = messages.filter { $0.requestID != unlinked.requestID }
      #expect(Set(linked.map(\.kind)) == [.verification, .deadlineExtended, .rejected, .completed])
      #expect(linked.allSatisfy { $0.body.hasSuffix(footer) })
      #expect(messages.filter { $0.requestID == unlinked.requestID }.allSatisfy { !$0.body.contains("Your privacy preferences") })
    }
  }

  @Test("five wrong tokens lock verification for good; each counts and says how many are left")
  func lockout() async throws {
    try await withRightsService { client, _ async throws in
      let request = try await client.open()
      let token = try await client.startAndReadToken(request.requestID)
      for left in (1...4).reversed() {
        let error = await capturedRPCError { try await client.confirm(request.requestID, "wrong-\(left)") }
        #expect(error?.code == .failedPrecondition && error?.errorInfoReason == "TOKEN_MISMATCH")
        let info = try #require(try error?.unpackGoogleRPCStatus()?.details.compactMap(\.errorInfo).first)
        #expect(info.metadata["attempts_left"] == String(left))
        #expect(try await client.get(request.requestID).verification.attemptsLeft == Int32(left))
      }
      let fifth = await capturedRPCError { try await client.confirm(request.requestID, "wrong-0") }
      #expect(fifth?.errorInfoReason == "VERIFICATION_LOCKED")
      let locked = try await client.get(request.requestID)
      #expect(locked.verification.locked && locked.verification.attemptsLeft == 0 && locked.status == .verifying)

      try await expectRefused(client, .failedPrecondition, "VERIFICATION_LOCKED") { _ = try await client.confirm(request.requestID, token) }
      try await expectRefused(client, .failedPrecondition, "VERIFICATION_LOCKED") {
        _ = try await client.startVerification(.with { $0.requestID = request.requestID })
      }
      // Only staff can move it on now.
      let verified = try await client.verifyByStaff(request.requestID)
      #expect(verified.status == .verified && verified.verification.method == .manual && verified.verification.locked)
      #expect(verified.verification.note == "passport seen at the front desk")
    }
  }

  @Test("expired, superseded and empty tokens are refused precisely and do not count")
  func badTokens() async throws {
    try await withRightsService { client, fixture async throws in
      let request = try await client.open()
      let first = try await client.startAndReadToken(request.requestID)
      let second = try await client.startAndReadToken(request.requestID)
      #expect(first != second)
      #expect(try await client.get(request.requestID).verification.tokensIssued == 2)
      try await expectRefused(client, .failedPrecondition, "TOKEN_SUPERSEDED") { _ = try await client.confirm(request.requestID, first) }
      try await expectRefused(client, .invalidArgument) { _ = try await client.confirm(request.requestID, "  ") }
      try await expectRefused(client, .invalidArgument) { _ = try await client.confirm("", second) }
      try await expectRefused(client, .notFound) { _ = try await client.confirm("no-such-request", second) }
      fixture.clock.advance(by: 72 * 3600)
      try await expectRefused(client, .failedPrecondition, "TOKEN_EXPIRED") { _ = try await client.confirm(request.requestID, second) }
      #expect(try await client.get(request.requestID).verification.attemptsLeft == 5)
      // A fresh token works again; failed attempts are not reset by it.
      _ = await capturedRPCError { try await client.confirm(request.requestID, "wrong") }
      let third = try await client.startAndReadToken(request.requestID)
      #expect(try await client.get(request.requestID).verification.attemptsLeft == 4)
      #expect(try await client.confirm(request.requestID, third).status == .verified)
    }
  }

  @Test("verification needs a started request with a requester email; closed requests refuse")
  func preconditions() async throws {
    try await withRightsService { client, _ async throws in
      let request = try await client.open()
      try await expectRefused(client, .failedPrecondition, "VERIFICATION_NOT_STARTED") {
        _ = try await client.confirm(request.requestID, "anything")
      }
      let controller = try await client.openRequest(.with {
        $0.right = .restriction
        $0.subjectID = "c-2"
        $0.origin = .controller
      }).request
      try await expectRefused(client, .failedPrecondition, "NO_REQUESTER_EMAIL") {
        _ = try await client.startVerification(.with { $0.requestID = controller.requestID })
      }
      try await expectRefused(client, .notFound) { _ = try await client.startVerification(.with { $0.requestID = "ghost" }) }
      try await expectRefused(client, .invalidArgument) { _ = try await client.verifyManually(.with { $0.requestID = request.requestID }) }
      try await expectRefused(client, .invalidArgument) {
        _ = try await client.verifyManually(.with {
          $0.requestID = request.requestID
          $0.note = String(repeating: "x", count: 2001)
        })
      }

      let token = try await client.startAndReadToken(request.requestID)
      _ = try await client.rejectRequest(.with {
        $0.requestID = request.requestID
        $0.reason = "identity could not be verified"
        $0.grounds = .identityNotVerified
      })
      try await expectRefused(client, .failedPrecondition, "REQUEST_CLOSED") { _ = try await client.confirm(request.requestID, token) }
      try await expectRefused(client, .failedPrecondition, "REQUEST_CLOSED") { _ = try await client.verifyByStaff(request.requestID) }
      try await expectRefused(client, .failedPrecondition, "REQUEST_CLOSED") {
        _ = try await client.startVerification(.with { $0.requestID = request.requestID })
      }
      // Manual verification supersedes an outstanding token.
      let other = try await client.open(subject: "c-3")
      let outstanding = try await client.startAndReadToken(other.requestID)
      _ = try await client.verifyByStaff(other.requestID)
      try await expectRefused(client, .failedPrecondition, "ALREADY_VERIFIED") { _ = try await client.confirm(other.requestID, outstanding) }
    }
  }

  @Test("without PUBLIC_BASE_URL the message carries the code and no link")
  func noLink() async throws {
    try await withRightsService(environment: ["PUBLIC_BASE_URL": ""]) { client, _ async throws in
      let request = try await client.open()
      _ = try await client.startVerification(.with { $0.requestID = request.requestID })
      let message = try #require(try await client.pendingOutbox().first)
      #expect(message.link.isEmpty && !message.token.isEmpty && message.body.contains(message.token))
    }
  }
}
