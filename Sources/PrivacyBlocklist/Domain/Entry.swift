public import Foundation
public import PrivacyKit

/// One blocklist entry: a keyed hash of an erased person's identifier and why it is there. The
/// full hash is kept only while the entry is active; removal discards it, keeping the prefix.
public struct BlocklistEntry: Sendable, Equatable {
  public var id: String
  public var kind: IdentifierKind
  /// The full keyed hash; nil once removed.
  public var hash: KeyedHash?
  public var hashPrefix: String
  public var pepperID: String
  public var reason: String
  public var requestID: String
  public var addedAt: Date
  public var addedBy: String
  public var removal: Removal?

  /// When, why and by whom an entry was removed.
  public struct Removal: Sendable, Equatable {
    public var at: Date
    public var reason: String
    public var by: String

    public init(at: Date, reason: String, by: String) {
      self.at = at.microsecondPrecision
      self.reason = reason
      self.by = by
    }
  }

  public init(
    id: String, kind: IdentifierKind, hash: KeyedHash?, hashPrefix: String, pepperID: String, reason: String,
    requestID: String, addedAt: Date, addedBy: String, removal: Removal? = nil
  ) {
    self.id = id
    self.kind = kind
    self.hash = hash
    self.hashPrefix = hashPrefix
    self.pepperID = pepperID
    self.reason = reason
    self.requestID = requestID
    self.addedAt = addedAt.microsecondPrecision
    self.addedBy = addedBy
    self.removal = removal
  }

  public var isActive: Bool { removal == nil }
}

/// Which entries List returns.
public struct EntryFilter: Sendable, Equatable {
  /// Only these kinds; empty means any.
  public var kinds: Set<IdentifierKind> = []
  public var includeRemoved = false
  /// Only entries of this data-subject request; nil means any.
  public var requestID: String?

  public init(kinds: Set<IdentifierKind> = [], includeRemoved: Bool = false, requestID: String? = nil) {
    self.kinds = kinds
    self.includeRemoved = includeRemoved
    self.requestID = requestID
  }

  /// A stable text form, so a page token only works with the filter that issued it.
  public var scopeKey: String {
    "\(kinds.map(\.rawValue).sorted().joined(separator: ","))|\(includeRemoved)|\(requestID ?? "")"
  }
}

/// Where a listing page starts: after this entry in newest-first order.
public struct EntryCursor: Sendable, Equatable {
  public var addedAt: Microseconds
  public var entryID: String

  public init(addedAt: Microseconds, entryID: String) {
    self.addedAt = addedAt
    self.entryID = entryID
  }

  public init?(_ text: String) {
    let parts = text.split(separator: "|", maxSplits: 1, omittingEmptySubsequences: false)
    guard parts.count == 2, let micros = Int64(parts[0]), !parts[1].isEmpty else { return nil }
    self.init(addedAt: Microseconds(value: micros), entryID: String(parts[1]))
  }

  public var text: String { "\(addedAt.value)|\(entryID)" }
}
