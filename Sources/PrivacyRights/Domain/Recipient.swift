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
  public var createdAt: Date
  public var updatedAt: Date

  public init(
    id: String, name: String, contact: String, purposeIDs: [String], notes: String, transfer: ThirdCountryTransfer? = nil, createdAt: Date,
    updatedAt: Date
  ) {
    self.id = id
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
      && transfer == other.transfer
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
