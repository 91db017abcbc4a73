import Foundation
import GRPCCore
import GRDB
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Testing

/// CreatePreferenceLink, ResolvePreferenceLink and RevokePreferenceLinks on a real server.
@Suite("Preference links")
struct PreferenceLinkTests {
  private func mint(_ client: ConsentClient, _ subject: String) async throws -> (Privacy_Consent_V1_CreatePreferenceLinkResponse, String) {
    let minted = try await client.createPreferenceLink(.with { $0.subjectID = subject })
    let token = try #require(minted.url.split(separator: "/").last.map(String.init))
    return (minted, token)
  }

  private func resolve(_ client: ConsentClient, _ token: String) async -> Result<String, RPCError> {
    do {
      return .success(try await client.resolvePreferenceLink(.with { $0.token = token }).subjectID)
    } catch {
      return .failure(error as! RPCError)
    }
  }

  @Test("a minted link holds a 256-bit token in both URLs and the mail headers, and opens its subject's page until it expires")
  func mintAndResolve() async throws {
    try await withConsentService(environment: ["PREFERENCE_LINK_TTL_DAYS": "7"]) { client, fixture in
      let (minted, token) = try await mint(client, "c1")
      #expect(minted.url == "https://privacy.example.com/p/\(token)")
      #expect(minted.unsubscribeURL == "https://privacy.example.com/u/\(token)")
      #expect(minted.listUnsubscribe == "<https://privacy.example.com/u/\(token)>")
      #expect(minted.listUnsubscribePost == "List-Unsubscribe=One-Click")
      #expect(token.count == 43 && Data(base64Encoded: token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/") + "=")?.count == 32)
      #expect(minted.expiresAt.date == fixture.clock.now().addingTimeInterval(7 * 86_400))
      #expect(try await resolve(client, token).get() == "c1")

      let (_, second) = try await mint(client, "c1")
      #expect(second != token)

      fixture.clock.advance(by: 7 * 86_400)
      let expired = await resolve(client, token)
      #expect(throws: RPCError.self) { try expired.get() }
    }
  }

  @Test("unknown, expired, revoked and erased links get one and the same refusal")
  func oneRefusal() async throws {
    try await withConsentService { client, fixture in
      let (_, expiring) = try await mint(client, "c1")
      fixture.clock.advance(by: 89 * 86_400)
      let (_, revoked) = try await mint(client, "c2")
      let (_, erased) = try await mint(client, "c3")
      let (_, open) = try await mint(client, "c4")
      fixture.clock.advance(by: 86_400)

      let answer = try await client.revokePreferenceLinks(.with { $0.subjectID = "c2" })
      #expect(answer.revoked == 1)
      #expect(try await client.revokePreferenceLinks(.with { $0.subjectID = "c2" }).revoked == 0)
      _ = try await client.eraseSubject(.with {
        $0.subjectID = "c3"
        $0.reason = "art 17 request"
      })

      var refusals: [String] = []
      for token in [SecureToken.generate(), expiring, revoked, erased] {
        guard case .failure(let error) = await resolve(client, token) else {
          Issue.record("a link that should not open a page resolved")
          continue
        }
        #expect(error.code == .notFound && error.errorInfoReason == "PREFERENCE_LINK_INVALID")
        refusals.append(error.message)
      }
      #expect(Set(refusals).count == 1)
      #expect(try await resolve(client, open).get() == "c4")

      let refused = await capturedRPCError { try await client.createPreferenceLink(.with { $0.subjectID = "c3" }) }
      #expect(refused?.code == .failedPrecondition && refused?.errorInfoReason == "SUBJECT_ERASED")
    }
  }

  @Test("bad input is refused precisely and mints nothing")
  func badInput() async throws {
    try await withConsentService { client, _ in
      let malformed = await capturedRPCError { try await client.createPreferenceLink(.with { $0.subjectID = "ann@example.com" }) }
      #expect(malformed?.code == .invalidArgument)
      let empty = await capturedRPCError { try await client.resolvePreferenceLink(.with { $0.token = "" }) }
      #expect(empty?.code == .invalidArgument)
      let oversized = await capturedRPCError {
        try await client.resolvePreferenceLink(.with { $0.token = String(repeating: "a", count: 129) })
      }
      #expect(oversized?.code == .invalidArgument)
      let revoke = await capturedRPCError { try await client.revokePreferenceLinks(.with { $0.subjectID = "" }) }
      #expect(revoke?.code == .invalidArgument)
    }
  }

  /// Reads the SQLite file: left out of the PostgreSQL pass (`scripts/test`).
  @Test("links that no longer open a page are deleted by the service's expiry round")
  func closedLinksDeleted() async throws {
    let fixture = try ConsentFixture(environment: ["DOUBLE_OPT_IN_EXPIRY_CHECK_SECONDS": "1", "PREFERENCE_LINK_TTL_DAYS": "1"])
    try await fixture.run { client in
      _ = try await mint(client, "c1")
      _ = try await mint(client, "c2")
      _ = try await client.revokePreferenceLinks(.with { $0.subjectID = "c2" })
      func stored() async throws -> Int {
        try await DatabaseQueue(path: fixture.databasePath).read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM preference_links") ?? -1 }
      }
      var count = try await stored()
      for _ in 0..<50 where count != 1 {
        try await Task.sleep(for: .milliseconds(100))
        count = try await stored()
      }
      #expect(count == 1)  // the revoked one went; the open one stays
      fixture.clock.advance(by: 86_400)
      for _ in 0..<50 where count != 0 {
        try await Task.sleep(for: .milliseconds(100))
        count = try await stored()
      }
      #expect(count == 0)
    }
  }

  /// Reads the SQLite file: left out of the PostgreSQL pass (`scripts/test`).
  @Test("the store keeps only the token's hash")
  func onlyTheHash() async throws {
    let fixture = try ConsentFixture()
    let token = try await fixture.run { client in try await mint(client, "c1").1 }
    let queue = try DatabaseQueue(path: fixture.databasePath)
    let rows = try await queue.read { db in try Row.fetchAll(db, sql: "SELECT * FROM preference_links") }
    #expect(rows.count == 1)
    #expect(rows.allSatisfy { !$0.description.contains(token) })
    #expect(rows.first?["token_hash"] == SecureToken.hash(token))
  }

  @Test("every confirmation mail carries the subject's own page link and the one-click unsubscribe headers, wiped at acknowledgement")
  func outboxCarriesTheLink() async throws {
    try await withConsentService { client, fixture in
      _ = try await client.startDoubleOptIn(.with {
        $0.subjectID = "c1"
        $0.emailAddress = "ann@example.com"
      })
      let message = try #require(try await client.pendingOutbox().last)
      let token = try #require(message.preferenceURL.split(separator: "/").last.map(String.init))
      #expect(message.preferenceURL == "https://privacy.example.com/p/\(token)")
      #expect(message.listUnsubscribe == "<https://privacy.example.com/u/\(token)>")
      #expect(message.listUnsubscribePost == "List-Unsubscribe=One-Click")
      #expect(message.body.contains(message.preferenceURL))
      // Open as long as the confirmation link, no longer.
      #expect(try await resolve(client, token).get() == "c1")
      _ = try await client.ackOutbox(.with { $0.messageIds = [message.messageID] })
      let acked = try #require(try await client.listOutbox(.with { $0.pageSize = 10; $0.includeAcked = true }).messages.last)
      #expect(acked.preferenceURL.isEmpty && acked.listUnsubscribe.isEmpty)
      #expect(try await resolve(client, token).get() == "c1")
      fixture.clock.advance(by: 7 * 86_400)
      let expired = await resolve(client, token)
      #expect(throws: RPCError.self) { try expired.get() }
    }
  }
}
