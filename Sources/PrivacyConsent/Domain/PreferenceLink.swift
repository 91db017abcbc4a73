public import Foundation
import PrivacyKit

/// A personal link to a subject's preference page (`PUBLIC_BASE_URL/p/<token>`), put in the
/// footer of a mail. Whoever holds it may view the page and act for its subject within what the
/// `preference-center` role allows; so only the token's SHA-256 is kept, and the link expires and
/// can be revoked. Erasure deletes a subject's links.
public struct PreferenceLink: Sendable, Equatable {
  public var id: String
  public var subjectID: String
  public var tokenHash: String
  public var createdAt: Date
  public var expiresAt: Date
  public var revokedAt: Date?

  public init(id: String, subjectID: String, tokenHash: String, createdAt: Date, expiresAt: Date, revokedAt: Date? = nil) {
    self.id = id
    self.subjectID = subjectID
    self.tokenHash = tokenHash
    self.createdAt = createdAt.microsecondPrecision
    self.expiresAt = expiresAt.microsecondPrecision
    self.revokedAt = revokedAt?.microsecondPrecision
  }

  /// Whether the link opens its page at `now`: not revoked and not expired.
  public func isOpen(at now: Date) -> Bool {
    revokedAt == nil && now < expiresAt
  }
}

/// The URLs and mail headers of a newly minted preference link. The token appears only here
/// (and in the outbox message that carries it, until acknowledged).
public struct MintedPreferenceLink: Sendable {
  public var url: String
  public var unsubscribeURL: String
  public var expiresAt: Date
  /// What the store keeps of it.
  public var link: PreferenceLink

  /// A new link for the subject: a 256-bit token, its page and one-click unsubscribe URLs under
  /// `base` (`PUBLIC_BASE_URL`), open for `lifetime`.
  public init(subjectID: String, base: String, now: Date, lifetime: TimeInterval) {
    let token = SecureToken.generate()
    link = PreferenceLink(
      id: UUID().uuidString.lowercased(), subjectID: subjectID, tokenHash: SecureToken.hash(token), createdAt: now,
      expiresAt: now.addingTimeInterval(lifetime))
    url = "\(base)/p/\(token)"
    unsubscribeURL = "\(base)/u/\(token)"
    expiresAt = link.expiresAt
  }

  /// The `List-Unsubscribe` header value (RFC 2369): the one-click URL in angle brackets.
  public var listUnsubscribe: String { Self.listUnsubscribe(unsubscribeURL) }

  /// The `List-Unsubscribe` value for a one-click URL.
  public static func listUnsubscribe(_ unsubscribeURL: String) -> String { "<\(unsubscribeURL)>" }
  /// The `List-Unsubscribe-Post` header value (RFC 8058).
  public static let listUnsubscribePost = "List-Unsubscribe=One-Click"
}
