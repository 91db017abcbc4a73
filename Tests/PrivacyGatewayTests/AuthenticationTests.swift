import Foundation
import GRPCCore
import JWTKit
import PrivacyGateway
import PrivacyKit
import PrivacyTesting
import Testing

@Suite("Authentication: API keys and JWTs")
struct AuthenticationTests {
  private let policy: Policy

  init() throws {
    policy = try GatewayPolicy.load(path: nil)
  }

  private func metadata(_ authorization: String...) -> Metadata {
    var metadata: Metadata = [:]
    for value in authorization { metadata.addString(value, forKey: "authorization") }
    return metadata
  }

  private func withKeys<T>(_ text: String = keysFile(revoked: ["auditor"]), _ body: (Authenticator, String) async throws -> T) async throws -> T {
    let directory = try TestDirectory()
    defer { directory.remove() }
    let path = directory.path("keys.yaml")
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    let file = try APIKeyFile(path: path, policy: policy, logger: silentLogger)
    return try await body(Authenticator(keys: file, jwt: nil, policy: policy), path)
  }

  @Test("a key's id and secret give its actor and role")
  func apiKey() async throws {
    try await withKeys { authenticator, _ async throws in
      let principal = try await authenticator.authenticate(metadata("Bearer \(PrivacyGatewayTests.apiKey("support"))"))
      #expect(principal == Principal(actor: "support@test", role: "support", credentialKind: .apiKey, credentialID: "support-key"))
      // The scheme is case-insensitive (RFC 7235).
      #expect(try await authenticator.authenticate(metadata("bearer \(PrivacyGatewayTests.apiKey("dpo"))")).role == "dpo")
    }
  }

  @Test("missing, malformed, unknown, wrong or revoked credentials all fail the same way", arguments: [
    [], ["Basic c3VwcG9ydDpzZWNyZXQ="], ["Bearer"], ["Bearer "], ["support-key.secret-support"],
    ["Bearer support-key"], ["Bearer support-key."], ["Bearer .secret-support"], ["Bearer support-key.secret-dpo"],
    ["Bearer nobody-key.secret-support"], ["Bearer support key.secret-support"], ["Bearer auditor-key.secret-auditor"],
    ["Bearer support-key.secret-support", "Bearer dpo-key.secret-dpo"], ["Bearer a.b.c"],
  ])
  func refused(_ headers: [String]) async throws {
    try await withKeys { authenticator, _ async throws in
      var metadata: Metadata = [:]
      for header in headers { metadata.addString(header, forKey: "authorization") }
      let error = await #expect(throws: Unauthenticated.self) { try await authenticator.authenticate(metadata) }
      #expect(error?.message == "missing or invalid credentials")
      #expect(RPCError(error!).code == .unauthenticated)
    }
  }

  @Test("the scheme in any case and whitespace around it are accepted; a token with whitespace inside, or no space after the scheme, is not")
  func bearerSyntax() async throws {
    try await withKeys { authenticator, _ in
      for accepted in [
        "Bearer support-key.secret-support", "bearer support-key.secret-support", "  BEARER   support-key.secret-support \t",
        "Bearer support-key.secret-support\u{00A0}",
      ] {
        let principal = try await authenticator.authenticate(metadata(accepted))
        #expect(principal.role == "support", "\(accepted)")
      }
      for refused in [
        "Bearer\tsupport-key.secret-support", "Bearer support-key.secret -support", "Bearer support-key.secret\u{0B}-support", "Bearer",
        "Bearer ", "Bearersupport-key.secret-support", "Bearer support-key.secret-sup\u{00A0}port", "Basic support-key.secret-support",
        "Bearer " + String(repeating: "x", count: 8190) + ".y",
      ] {
        await #expect(throws: Unauthenticated.self, "\(refused.prefix(40))") { try await authenticator.authenticate(self.metadata(refused)) }
      }
    }
  }

  @Test("keys files in YAML and JSON; malformed ones are refused with the reason")
  func keysFiles() throws {
    let json = """
      {"keys": [{"id": "crm", "role": "service", "actor": "crm-sync", "sha256": "\(SecureToken.hash("s3cret"))"}]}
      """
    let keyring = try APIKeyring.parse(json, policy: policy)
    #expect(keyring.authenticate(id: "crm", secret: "s3cret")?.actor == "crm-sync")
    #expect(keyring.authenticate(id: "crm", secret: "s3cres") == nil)
    #expect(keyring.authenticate(id: "crn", secret: "s3cret") == nil)

    let hash = SecureToken.hash("x")
    let cases: [(String, String)] = [
      ("keys:\n  - {id: a, role: emperor, actor: a, sha256: \(hash)}\n", "unknown role \"emperor\""),
      ("keys:\n  - {id: a, role: dpo, actor: a, sha256: abc}\n", "sha256 must be 64 hex digits"),
      ("keys:\n  - {id: a, role: dpo, actor: a}\n", "lacks \"sha256\""),
      ("keys:\n  - {id: a.b, role: dpo, actor: a, sha256: \(hash)}\n", "key id \"a.b\""),
      ("keys:\n  - {id: a, role: dpo, actor: a, sha256: \(hash)}\n  - {id: a, role: dpo, actor: b, sha256: \(hash)}\n", "listed twice"),
      ("keys:\n  - {id: a, role: dpo, actor: a, sha256: \(hash), secret: hunter2}\n", "unknown key \"secret\""),
    ]
    for (text, expected) in cases {
      let error = #expect(throws: APIKeysError.self) { try APIKeyring.parse(text, policy: self.policy) }
      #expect(error?.description.contains(expected) == true, "\(error?.description ?? "")")
    }
  }

  @Test("a changed keys file takes effect without a restart; an invalid one fails closed")
  func reload() async throws {
    try await withKeys(keysFile(roles: ["support"])) { authenticator, path async throws in
      let support = metadata("Bearer \(PrivacyGatewayTests.apiKey("support"))")
      #expect(try await authenticator.authenticate(support).role == "support")
      try await Task.sleep(for: .milliseconds(1100))
      try keysFile(roles: ["support", "dpo"], revoked: ["support"]).write(toFile: path, atomically: true, encoding: .utf8)
      await #expect(throws: Unauthenticated.self) { try await authenticator.authenticate(support) }
      #expect(try await authenticator.authenticate(metadata("Bearer \(PrivacyGatewayTests.apiKey("dpo"))")).role == "dpo")
      try await Task.sleep(for: .milliseconds(1100))
      try "keys: [{id: x}]".write(toFile: path, atomically: true, encoding: .utf8)
      await #expect(throws: Unauthenticated.self) {
        try await authenticator.authenticate(self.metadata("Bearer \(PrivacyGatewayTests.apiKey("dpo"))"))
      }
    }
  }

  // MARK: JWT

  struct Claims: JWTPayload {
    var sub: SubjectClaim
    var role: String?
    var iss: IssuerClaim
    var aud: AudienceClaim
    var exp: ExpirationClaim?
    var nbf: NotBeforeClaim?
    var jti: IDClaim?
    func verify(using algorithm: some JWTAlgorithm) async throws {}
  }

  /// A signing key, the JWKS holding its public half, and an authenticator trusting it.
  struct Issuer {
    let signer = JWTKeyCollection()
    let jwks: String

    init(kid: String) async throws {
      let key = ES256PrivateKey()
      await signer.add(ecdsa: key, kid: JWKIdentifier(string: kid))
      let parameters = try #require(key.publicKey.parameters)
      jwks = """
        {"keys": [{"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": "\(kid)", "x": "\(parameters.x)", "y": "\(parameters.y)"}]}
        """
    }

    func sign(_ claims: Claims, kid: String) async throws -> String {
      try await signer.sign(claims, kid: JWKIdentifier(string: kid))
    }
  }

  private func claims(
    sub: String = "jo@idp", role: String? = "support", iss: String = "https://idp.example", aud: String = "privacy-gateway",
    exp: TimeInterval? = 300, nbf: TimeInterval? = nil
  ) -> Claims {
    let now = Date()
    return Claims(
      sub: .init(value: sub), role: role, iss: .init(value: iss), aud: .init(value: [aud]),
      exp: exp.map { .init(value: now.addingTimeInterval($0)) }, nbf: nbf.map { .init(value: now.addingTimeInterval($0)) },
      jti: .init(value: "token-7"))
  }

  @Test("a JWT signed by a JWKS key, for our issuer and audience, in its validity window, authenticates")
  func jwt() async throws {
    let issuer = try await Issuer(kid: "k1")
    let jwt = try await JWTAuthenticator(jwks: issuer.jwks, issuer: "https://idp.example", audience: "privacy-gateway")
    let authenticator = Authenticator(keys: nil, jwt: jwt, policy: policy)
    let token = try await issuer.sign(claims(), kid: "k1")
    let principal = try await authenticator.authenticate(metadata("Bearer \(token)"))
    #expect(principal.actor == "jo@idp" && principal.role == "support" && principal.credentialKind == .jwt)
    #expect(principal.credentialID == "token-7" && principal.expiresAt != nil)
    // No API keys are configured: a key-shaped token is refused like any other failure.
    await #expect(throws: Unauthenticated.self) { try await authenticator.authenticate(self.metadata("Bearer support-key.secret-support")) }
  }

  @Test("expired, not yet valid, foreign issuer or audience, no exp, unknown role, bad signature: UNAUTHENTICATED")
  func jwtRefused() async throws {
    let issuer = try await Issuer(kid: "k1")
    let stranger = try await Issuer(kid: "k1")
    let jwt = try await JWTAuthenticator(jwks: issuer.jwks, issuer: "https://idp.example", audience: "privacy-gateway")
    let authenticator = Authenticator(keys: nil, jwt: jwt, policy: policy)
    var tokens = [
      try await issuer.sign(claims(exp: -3600), kid: "k1"),
      try await issuer.sign(claims(nbf: 3600), kid: "k1"),
      try await issuer.sign(claims(iss: "https://evil.example"), kid: "k1"),
      try await issuer.sign(claims(aud: "someone-else"), kid: "k1"),
      try await issuer.sign(claims(exp: nil), kid: "k1"),
      try await issuer.sign(claims(role: "emperor"), kid: "k1"),
      try await issuer.sign(claims(role: nil), kid: "k1"),
      try await issuer.sign(claims(sub: ""), kid: "k1"),
      try await stranger.sign(claims(), kid: "k1"),
    ]
    // A valid token with one payload character changed.
    let valid = try await issuer.sign(claims(), kid: "k1")
    var parts = valid.split(separator: ".").map(String.init)
    parts[1] = String(parts[1].dropLast()) + (parts[1].hasSuffix("A") ? "B" : "A")
    tokens.append(parts.joined(separator: "."))
    for token in tokens {
      await #expect(throws: Unauthenticated.self) { try await authenticator.authenticate(self.metadata("Bearer \(token)")) }
    }
  }
}
