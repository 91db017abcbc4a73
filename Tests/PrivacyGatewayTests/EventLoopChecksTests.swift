import Foundation
import GRDB
import GRPCCore
import PrivacyGateway
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Testing

/// The checks the gateway answers from its copy of the ledger on the event loop
/// (`EventLoopChecks`): the same answers, refusals and audit entries as any call, each answer
/// leaving only once its entry is committed.
@Suite("Checks answered on the gateway's event loop")
struct EventLoopChecksTests {
  private static let check = Privacy_Consent_V1_CheckConsentRequest.with {
    $0.subjectID = "c-7"
    $0.purposeID = "newsletter"
  }

  /// A gateway whose copy of the ledger answers, with one purpose and one subject's consent, and
  /// JWTs of `issuer` accepted beside the API keys.
  private func withAnsweringCopy(
    issuer: AuthenticationTests.Issuer, _ body: (_ port: Int, _ fixture: GatewayFixture) async throws -> Void
  ) async throws {
    let fixture = try GatewayFixture()
    let jwks = fixture.directory.path("jwks.json")
    try issuer.jwks.write(toFile: jwks, atomically: true, encoding: .utf8)
    let jwt = ["GATEWAY_JWKS_FILE": jwks, "GATEWAY_JWT_ISSUER": "https://idp.example", "GATEWAY_JWT_AUDIENCE": "privacy-gateway"]
    try await fixture.run(gatewayEnvironment: jwt) { port, _ async throws in
      try await asRole("admin", port: port) { client async throws in
        _ = try await ConsentClient(wrapping: client).upsertPurpose(.with { $0.purpose = ConsentCopyTests.newsletter })
      }
      try await asRole("service", port: port) { client async throws in
        _ = try await ConsentClient(wrapping: client).recordConsent(ConsentCopyTests.record("c-7", .granted))
      }
      let answering = try await eventually {
        try await asRole("dpo", port: port) { try await AdminClient(wrapping: $0).getBackendHealth(.init()).consentCopy.answering }
      }
      #expect(answering)
      try await body(port, fixture)
    }
  }

  /// The check's answer and the `x-request-id` it came with.
  private func checked(_ client: GRPCClient<Transport>, timeout: Duration? = nil) async throws -> (allowed: Bool, requestID: String) {
    var options = CallOptions.defaults
    if let timeout { options.timeout = timeout }
    return try await ConsentClient(wrapping: client).checkConsent(Self.check, options: options) { response in
      (try response.message.allowed, response.metadata[stringValues: MetadataKey.requestID].first(where: { _ in true }) ?? "")
    }
  }

  /// The audit entry of a request id, read from the gateway's database: actor, role, status.
  private func entry(_ fixture: GatewayFixture, requestID: String) throws -> (actor: String, role: String, status: Int, method: String)? {
    try fixture.auditDatabase().read { db in
      try Row.fetchOne(db, sql: "SELECT actor, role, status_code, method FROM audit_log WHERE request_id = ?", arguments: [requestID])
        .map { ($0["actor"], $0["role"], $0["status_code"], $0["method"]) }
    }
  }

  private func entries(_ fixture: GatewayFixture, status: Int) throws -> Int {
    try fixture.auditDatabase().read { db in
      try Int.fetchOne(
        db, sql: "SELECT COUNT(*) FROM audit_log WHERE method = 'privacy.consent.v1.ConsentService/CheckConsent' AND status_code = ?",
        arguments: [status]) ?? 0
    }
  }

  @Test("an API key's and a JWT's checks are answered with their request id, each entry committed before the answer; refusals are audited")
  func answersAndAudit() async throws {
    let issuer = try await AuthenticationTests.Issuer(kid: "k1")
    try await withAnsweringCopy(issuer: issuer) { port, fixture in
      try await asRole("service", port: port) { client async throws in
        for _ in 0..<20 {
          let answer = try await checked(client)
          #expect(answer.allowed)
          let written = try #require(try entry(fixture, requestID: answer.requestID), "the entry is on disk when the answer arrives")
          #expect(written.actor == "service@test" && written.role == "service" && written.status == 0)
          #expect(written.method == "privacy.consent.v1.ConsentService/CheckConsent")
        }
      }
      // A JWT (checked in a task, since the issuer's keys may have to be read) gets the same.
      let now = Date()
      let token = try await issuer.sign(
        AuthenticationTests.Claims(
          sub: .init(value: "jo@idp"), role: "service", iss: .init(value: "https://idp.example"), aud: .init(value: ["privacy-gateway"]),
          exp: .init(value: now.addingTimeInterval(300)), nbf: nil, jti: .init(value: "token-1")),
        kid: "k1")
      let byJWT = try await withGatewayClient(port: port, authorization: "Bearer \(token)") { try await checked($0) }
      #expect(byJWT.allowed)
      #expect(try entry(fixture, requestID: byJWT.requestID)?.actor == "jo@idp")
      // Refused callers: the same statuses as any method, each refusal on record.
      let unknownKey = await capturedRPCError {
        try await withGatewayClient(port: port, authorization: "Bearer service-key.wrong") { try await checked($0) }
      }
      #expect(unknownKey?.code == .unauthenticated)
      let notGranted = await capturedRPCError { try await asRole("auditor", port: port) { try await checked($0) } }
      #expect(notGranted?.code == .permissionDenied)
      #expect(try entries(fixture, status: 16) == 1 && entries(fixture, status: 7) == 1)
      #expect(try entries(fixture, status: 0) == 21)
    }
  }

  @Test("when the entry cannot be written the check fails UNAVAILABLE; a commit slower than the caller's deadline ends the call at its deadline")
  func failClosedAndDeadline() async throws {
    try await withAnsweringCopy(issuer: try await AuthenticationTests.Issuer(kid: "k1")) { port, fixture in
      try await asRole("service", port: port) { client async throws in
        try fixture.executeOnAudit("CREATE TRIGGER fail_audit BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'disk full'); END")
        let refused = await capturedRPCError { try await checked(client) }
        #expect(refused?.code == .unavailable && refused?.errorInfoReason == "AUDIT_UNAVAILABLE")
        #expect(refused?.metadata[stringValues: MetadataKey.requestID].first(where: { _ in true })?.isEmpty == false)
        try fixture.executeOnAudit("DROP TRIGGER fail_audit")

        // Another connection holds the write lock: the commit waits (up to the busy timeout).
        var holding = Configuration()
        holding.allowsUnsafeTransactions = true
        let holder = try DatabaseQueue(path: fixture.auditPath, configuration: holding)
        try holder.inDatabase { try $0.execute(sql: "BEGIN EXCLUSIVE") }
        let start = ContinuousClock.now
        let late = await capturedRPCError { try await checked(client, timeout: .milliseconds(300)) }
        #expect(late?.code == .deadlineExceeded)
        #expect(ContinuousClock.now - start < .seconds(3))
        try holder.inDatabase { try $0.execute(sql: "COMMIT") }
        // The entry of the call that ran out of time is still written; the next check is answered.
        #expect(try await checked(client).allowed)
        #expect(try entries(fixture, status: 0) == 2)
      }
    }
  }
}
