public import Foundation

/// How a caller authenticated.
public enum CredentialKind: String, Sendable {
  case apiKey = "api_key"
  case jwt
}

/// An authenticated caller: who (actor), under which role, with which credential.
public struct Principal: Sendable, Equatable {
  /// The API key's actor name or the JWT's `sub`.
  public var actor: String
  /// The role the policy applies.
  public var role: String
  public var credentialKind: CredentialKind
  /// The API key id, or the JWT's `jti` (empty when it has none). Never a secret.
  public var credentialID: String
  /// When the credential stops being accepted (a JWT's `exp`); nil for API keys.
  public var expiresAt: Date?

  public init(actor: String, role: String, credentialKind: CredentialKind, credentialID: String, expiresAt: Date? = nil) {
    self.actor = actor
    self.role = role
    self.credentialKind = credentialKind
    self.credentialID = credentialID
    self.expiresAt = expiresAt
  }
}
