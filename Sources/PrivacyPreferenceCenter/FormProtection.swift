import Crypto
import Foundation
import PrivacyKit

/// CSRF tokens: the HMAC of what a form acts on (the link's or the confirmation's token) under a
/// key derived from the page's API key, so every replica of the page issues and accepts the same
/// tokens and none is stored. A form posted from another site lacks it; the link's own secret is
/// in the URL, so a cross-site form could only target a page whose link its author already holds.
struct FormProtection: Sendable {
  private let key: SymmetricKey

  init(apiKey: String) {
    key = HKDF<SHA256>.deriveKey(
      inputKeyMaterial: SymmetricKey(data: Data(apiKey.utf8)), info: Data("preference-center form protection".utf8), outputByteCount: 32)
  }

  func token(for purpose: String, _ secret: String) -> String {
    Data(HMAC<SHA256>.authenticationCode(for: Data("\(purpose)\n\(secret)".utf8), using: key)).base64URLEncoded
  }

  func accepts(_ presented: String, for purpose: String, _ secret: String) -> Bool {
    ConstantTime.equals(presented, token(for: purpose, secret))
  }
}

/// The CSRF tokens of the forms on one subject's page, one per form (each route accepts only its own).
struct FormTokens {
  let changes: String
  let restriction: String
  let requests: String

  init(_ protection: FormProtection, _ link: String) {
    changes = protection.token(for: "changes", link)
    restriction = protection.token(for: "restriction", link)
    requests = protection.token(for: "requests", link)
  }
}
