public import Foundation

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

/// The URLs and mail headers of a newly minted preference link. The token appears only here.
public struct MintedPreferenceLink: Sendable {
  public var url: String
  public var unsubscribeURL: String
  public var expiresAt: Date

  /// The `List-Unsubscribe` header value (RFC 2369): the one-click URL in angle brackets.
  public var listUnsubscribe: String { "<\(unsubscribeURL)>" }
  /// The `List-Unsubscribe-Post` header value (RFC 8058).
  public static let listUnsubscribePost = "List-Unsubscribe=One-Click"
}
