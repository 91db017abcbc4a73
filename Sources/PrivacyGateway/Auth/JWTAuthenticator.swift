public import Foundation
import JWTKit

/// Verifies JWT bearer tokens: the signature against a key of the configured JWKS, then the
/// issuer, the audience, `exp` (required) and `nbf` against the gateway's clock with a small
/// leeway for clock skew. `sub` becomes the actor and the `role` claim the role.
public struct JWTAuthenticator: Sendable {
  /// Tolerated clock difference between the token issuer and the gateway.
  public static let leeway: TimeInterval = 30

  private let keys: JWTKeyCollection
  public let issuer: String
  public let audience: String
  private let now: @Sendable () -> Date

  /// - Parameter jwks: the JWKS document (`{"keys": [...]}`).
  public init(jwks: String, issuer: String, audience: String, now: @escaping @Sendable () -> Date = { Date() }) async throws {
    let keys = JWTKeyCollection()
    do {
      try await keys.add(jwksJSON: jwks)
    } catch {
      throw JWKSError(description: "not a usable JWKS: \(error)")
    }
    self.keys = keys
    self.issuer = issuer
    self.audience = audience
    self.now = now
  }

  /// The caller the token names, or nil when anything about it is wrong.
  public func authenticate(_ token: String) async -> (actor: String, role: String, id: String, expiresAt: Date)? {
    guard let claims = try? await keys.verify(token, as: GatewayClaims.self) else { return nil }
    let now = self.now()
    guard claims.iss.value == issuer, claims.aud.value.contains(audience) else { return nil }
    guard now < claims.exp.value.addingTimeInterval(Self.leeway) else { return nil }
    if let notBefore = claims.nbf, now.addingTimeInterval(Self.leeway) < notBefore.value { return nil }
    let actor = claims.sub.value
    guard !actor.isEmpty, actor.count <= 200, !claims.role.isEmpty else { return nil }
    return (actor, claims.role, claims.jti?.value ?? "", claims.exp.value)
  }
}

/// The claims the gateway reads. `exp` is required: a token that never expires is refused.
struct GatewayClaims: JWTPayload {
  var sub: SubjectClaim
  var role: String
  var iss: IssuerClaim
  var aud: AudienceClaim
  var exp: ExpirationClaim
  var nbf: NotBeforeClaim?
  var jti: IDClaim?

  /// Time and audience checks need the gateway's clock and configuration; the authenticator
  /// makes them after the signature is verified.
  func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// The JWKS file cannot be used.
public struct JWKSError: Error, CustomStringConvertible {
  public var description: String
}
