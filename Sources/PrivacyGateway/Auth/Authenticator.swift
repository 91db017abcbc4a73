public import GRPCCore
public import PrivacyKit

/// Decides who a caller is from its `authorization` metadata: `Bearer <key-id>.<secret>` (an
/// API key) or `Bearer <JWT>`. Every failure is the same UNAUTHENTICATED, whatever was wrong.
public struct Authenticator: Sendable {
  private let keys: APIKeyFile?
  private let jwt: JWTAuthenticator?
  private let policy: Policy

  public init(keys: APIKeyFile?, jwt: JWTAuthenticator?, policy: Policy) {
    self.keys = keys
    self.jwt = jwt
    self.policy = policy
  }

  public func authenticate(_ metadata: Metadata) async throws(Unauthenticated) -> Principal {
    switch try credential(metadata) {
    case .checked(let principal):
      return principal
    case .jwt(let token, let jwt):
      guard let claims = await jwt.authenticate(token), policy.role(claims.role) != nil else { throw Unauthenticated() }
      return Principal(actor: claims.actor, role: claims.role, credentialKind: .jwt, credentialID: claims.id, expiresAt: claims.expiresAt)
    }
  }

  /// The caller, when its credential is an API key (checked at once); nil for a JWT, whose check
  /// may wait for the issuer's keys.
  func authenticateAtOnce(_ metadata: Metadata) throws(Unauthenticated) -> Principal? {
    guard case .checked(let principal) = try credential(metadata) else { return nil }
    return principal
  }

  private enum Credential {
    case checked(Principal)
    case jwt(String, JWTAuthenticator)
  }

  private func credential(_ metadata: Metadata) throws(Unauthenticated) -> Credential {
    let values = Array(metadata[stringValues: "authorization"])
    guard values.count == 1, let token = Self.bearerToken(values[0]) else { throw Unauthenticated() }
    let dots = token.utf8.count(where: { $0 == UInt8(ascii: ".") })
    if dots == 2, let jwt { return .jwt(token, jwt) }
    guard dots >= 1, let keyring = keys?.keyring else { throw Unauthenticated() }
    let dot = token.firstIndex(of: ".")!
    let id = String(token[..<dot])
    let secret = String(token[token.index(after: dot)...])
    guard APIKey.isValidID(id), !secret.isEmpty, let key = keyring.authenticate(id: id, secret: secret),
      policy.role(key.role) != nil
    else { throw Unauthenticated() }
    return .checked(Principal(actor: key.actor, role: key.role, credentialKind: .apiKey, credentialID: key.id))
  }

  /// The token of `Bearer <token>` (scheme in any case, RFC 7235), or nil.
  static func bearerToken(_ header: String) -> String? {
    if header.utf8.allSatisfy({ $0 < 0x80 }) { return asciiBearerToken(header) }
    let trimmed = header.trimmingWhitespace
    guard trimmed.count > 7, trimmed.prefix(7).lowercased() == "bearer " else { return nil }
    let token = String(trimmed.dropFirst(7)).trimmingWhitespace
    guard !token.isEmpty, token.utf8.count <= 8192, !token.contains(where: { $0.isWhitespace }) else { return nil }
    return token
  }

  /// `bearerToken` for a header of ASCII alone (every caller's, on the checks' hot path), read
  /// as bytes: the same answer without a look-up of Unicode properties for each character.
  private static func asciiBearerToken(_ header: String) -> String? {
    func isWhitespace(_ byte: UInt8) -> Bool { byte == 0x20 || (0x09...0x0D).contains(byte) }
    let bytes = Array(header.utf8)
    guard let first = bytes.firstIndex(where: { !isWhitespace($0) }), let last = bytes.lastIndex(where: { !isWhitespace($0) }),
      last - first + 1 > 7, bytes[first + 6] == 0x20,
      String(decoding: bytes[first..<first + 6], as: UTF8.self).lowercased() == "bearer",
      let start = bytes[(first + 7)...last].firstIndex(where: { !isWhitespace($0) })
    else { return nil }
    let token = bytes[start...last]
    guard token.count <= 8192, !token.contains(where: isWhitespace) else { return nil }
    return String(decoding: token, as: UTF8.self)
  }
}

/// Missing, malformed, unknown, revoked, expired or badly signed credentials. One message for
/// all, so a caller learns nothing about which part was wrong.
public struct Unauthenticated: PrivacyError {
  public static let errorDomain = "privacy.gateway.v1"
  public var statusCode: StatusCode { .unauthenticated }
  public var message: String { "missing or invalid credentials" }
  public init() {}
}
