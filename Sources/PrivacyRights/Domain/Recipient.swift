public import Foundation

/// A third party the controller discloses personal data to, with the purposes whose data it
/// receives (art 19). Never deleted: art 19 also covers past disclosures.
public struct Recipient: Sendable, Equatable {
  public var id: String
  public var name: String
  public var contact: String
  /// Sorted, without duplicates.
  public var purposeIDs: [String]
  public var notes: String
  /// A transfer outside the EU/EEA (arts 44-49); nil when the recipient receives the data inside.
  public var transfer: ThirdCountryTransfer?
  /// Where art 19 notices go by themselves.
  public var notify: NoticeChannels
  public var createdAt: Date
  public var updatedAt: Date

  public init(
    id: String, name: String, contact: String, purposeIDs: [String], notes: String, transfer: ThirdCountryTransfer? = nil,
    notify: NoticeChannels = NoticeChannels(), createdAt: Date, updatedAt: Date
  ) {
    self.id = id
    self.notify = notify
    self.transfer = transfer
    self.name = name
    self.contact = contact
    self.purposeIDs = Array(Set(purposeIDs)).sorted()
    self.notes = notes
    self.createdAt = createdAt.microsecondPrecision
    self.updatedAt = updatedAt.microsecondPrecision
  }

  /// Same content, whatever the times.
  public func sameContent(as other: Recipient) -> Bool {
    id == other.id && name == other.name && contact == other.contact && purposeIDs == other.purposeIDs && notes == other.notes
      && transfer == other.transfer && notify == other.notify
  }
}

/// Where a recipient outside the EU/EEA receives the data, and what the transfer rests on.
public struct ThirdCountryTransfer: Sendable, Equatable {
  /// ISO 3166-1 alpha-2.
  public var country: String
  /// An adequacy decision (art 45), standard contractual clauses or binding corporate rules (art 46).
  public var safeguard: String

  public init(country: String, safeguard: String) {
    self.country = country
    self.safeguard = safeguard
  }
}

/// How art 19 notices reach a recipient without anyone's hand: by mail, by a signed webhook, or
/// both. A recipient with neither is told by the controller (its `contact`).
public struct NoticeChannels: Sendable, Equatable, Codable {
  /// Empty: no mail.
  public var email: String
  /// An https URL; empty: no webhook.
  public var url: String
  /// The key of the webhook's HMAC-SHA256 signatures (base64url, 256 bits); kept while `url` is
  /// set, shown once when made.
  public var webhookSecret: String

  public init(email: String = "", url: String = "", webhookSecret: String = "") {
    self.email = email
    self.url = url
    self.webhookSecret = webhookSecret
  }

  public var isEmpty: Bool { email.isEmpty && url.isEmpty }
}
