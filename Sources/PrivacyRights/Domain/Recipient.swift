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
  public var createdAt: Date
  public var updatedAt: Date

  public init(id: String, name: String, contact: String, purposeIDs: [String], notes: String, createdAt: Date, updatedAt: Date) {
    self.id = id
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
  }
}
