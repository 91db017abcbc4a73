public import Foundation
public import PrivacyKit

/// What a confirmation link confirms.
public enum ConfirmationKind: String, Sendable, CaseIterable {
  case doubleOptIn = "double_opt_in"
  case preferenceChange = "preference_change"
}

/// One change a person asked for on their preference page.
public enum PreferenceChangeItem: Sendable, Equatable, Codable {
  case consent(purposeID: String, decision: Decision)
  case subscription(listID: String, subscribed: Bool)
  /// Stop (true) or resume (false) processing (art 18), asked for by the person.
  case restriction(restricted: Bool)
}

/// A pending confirmation: a single-use token (only its SHA-256 kept) that a person confirms by
/// following a link. Double opt-in and preference changes both use it.
public struct Confirmation: Sendable, Equatable {
  public var id: String
  public var kind: ConfirmationKind
  public var subjectID: String
  public var tokenHash: String
  /// Where the link was sent; removed on erasure.
  public var emailAddress: String
  /// For preference changes: what to apply on confirmation.
  public var changes: [PreferenceChangeItem]
  /// The form the request came from, kept for the confirmation's evidence.
  public var formName: String
  public var createdAt: Date
  public var expiresAt: Date
  public var usedAt: Date?
  /// Set when a newer confirmation replaced this one, or erasure voided it.
  public var supersededAt: Date?
  public var messageID: String
  /// The guardian who asked for the changes for a child (art 8), and whose address the link went
  /// to; empty when the person asked for themself. Following the link is then the guardian's
  /// confirmation. Removed on erasure.
  public var guardian: String
  /// Where the changes were asked for (the request's channel, PREFERENCE_PAGE from the page),
  /// which the confirmed events record with the click's address and browser; nil when the click
  /// on the emailed link stands for itself (a double opt-in, a guardian's confirmation).
  public var requestChannel: Channel?

  public init(
    id: String, kind: ConfirmationKind, subjectID: String, tokenHash: String, emailAddress: String,
    changes: [PreferenceChangeItem], formName: String, createdAt: Date, expiresAt: Date, usedAt: Date? = nil,
    supersededAt: Date? = nil, messageID: String, guardian: String = "", requestChannel: Channel? = nil
  ) {
    self.id = id
    self.requestChannel = requestChannel
    self.guardian = guardian
    self.kind = kind
    self.subjectID = subjectID
    self.tokenHash = tokenHash
    self.emailAddress = emailAddress
    self.changes = changes
    self.formName = formName
    self.createdAt = createdAt.microsecondPrecision
    self.expiresAt = expiresAt.microsecondPrecision
    self.usedAt = usedAt
    self.supersededAt = supersededAt
    self.messageID = messageID
  }

  /// The stored form of `requestChannel` read back: empty is nil; a value no code wrote is
  /// tampering.
  public static func requestChannel(stored text: String) throws(LedgerCorruption) -> Channel? {
    guard !text.isEmpty else { return nil }
    guard let channel = Channel(rawValue: text) else { throw LedgerCorruption(sequence: 0, column: "confirmations.request_channel") }
    return channel
  }

  /// Refuses a token that was used, replaced or has expired.
  public func checkUsable(at now: Date) throws(ConsentError) {
    if usedAt != nil { throw .tokenAlreadyUsed }
    if supersededAt != nil { throw .tokenSuperseded }
    if now >= expiresAt { throw .tokenExpired }
  }
}

/// An email waiting for the mail system. Its address, body and links (which hold clear tokens)
/// are wiped once acknowledged or failed for good, and on erasure. Every message carries a personal link to the
/// subject's preference page and the matching one-click unsubscribe URL.
public struct OutboxMessage: Sendable, Equatable, DeliverableMessage {
  public var id: String
  public var kind: ConfirmationKind
  public var subjectID: String
  public var emailAddress: String
  public var subjectLine: String
  public var body: String
  public var link: String
  /// The subject's preference page (`PUBLIC_BASE_URL/p/<token>`), for the footer.
  public var preferenceURL: String
  /// One-click unsubscribe (`PUBLIC_BASE_URL/u/<token>`), for the `List-Unsubscribe` header.
  public var unsubscribeURL: String
  /// The language it is written in.
  public var language: MailLanguage
  public var createdAt: Date
  public var expiresAt: Date
  public var ackedAt: Date?
  /// Attempts, lease and failure, as the mail relay reported them.
  public var delivery: OutboxDelivery
  /// Position in the outbox (store-assigned), for paging.
  public var position: Int64

  public init(
    id: String, kind: ConfirmationKind, subjectID: String, emailAddress: String, subjectLine: String, body: String,
    link: String, preferenceURL: String = "", unsubscribeURL: String = "", language: MailLanguage = .en, createdAt: Date, expiresAt: Date,
    ackedAt: Date? = nil, delivery: OutboxDelivery = OutboxDelivery(), position: Int64 = 0
  ) {
    self.delivery = delivery
    self.language = language
    self.preferenceURL = preferenceURL
    self.unsubscribeURL = unsubscribeURL
    self.id = id
    self.kind = kind
    self.subjectID = subjectID
    self.emailAddress = emailAddress
    self.subjectLine = subjectLine
    self.body = body
    self.link = link
    self.createdAt = createdAt.microsecondPrecision
    self.expiresAt = expiresAt.microsecondPrecision
    self.ackedAt = ackedAt
    self.position = position
  }
}
