import Foundation
public import PrivacyKit

/// Everything one write changes, committed in one transaction.
public struct BlocklistCommit: Sendable {
  public var added: [BlocklistEntry] = []
  /// Entries removed now: their full hash is discarded and the removal recorded.
  public var removed: [(entryID: String, removal: BlocklistEntry.Removal)] = []

  public init() {}

  public var isEmpty: Bool { added.isEmpty && removed.isEmpty }
}

/// What commits after a given one changed: each entry they added or removed, as it is now.
public struct BlocklistChanges: Sendable, Equatable {
  public var entries: [BlocklistEntry]
  /// The last commit these changes include (at least).
  public var through: UInt64

  public init(entries: [BlocklistEntry], through: UInt64) {
    self.entries = entries
    self.through = through
  }
}

/// Where the blocklist keeps its entries. Only keyed hashes and their metadata are ever handed to
/// a store; no identifier value reaches it.
public protocol BlocklistStore: Sendable {
  /// Every active entry, to build the in-memory lookup at start.
  func activeEntries() async throws -> [BlocklistEntry]
  /// How many active entries each pepper id hashed.
  func activeCountsByPepper() async throws -> [String: Int]
  /// Commits in one transaction. Each commit takes the next change number, in commit order, so
  /// a replica that applied the changes through N misses nothing by asking for those after N. A
  /// commit that would give a hash a second active entry fails whole with
  /// `BlocklistEntryConflict`.
  func commit(_ commit: BlocklistCommit) async throws
  /// The number of the last commit; 0 before the first.
  func lastChange() async throws -> UInt64
  /// The entries commits after `change` added or removed.
  func changes(after change: UInt64) async throws -> BlocklistChanges
  /// Entries matching `filter`, newest first (`added_at`, then `entry_id`, both descending),
  /// strictly after `cursor`.
  func entries(_ filter: EntryFilter, after cursor: EntryCursor?, limit: Int) async throws -> [BlocklistEntry]
}

/// A commit would have given a hash a second active entry: another writer (a replica) added the
/// identifier first. Nothing of the commit was written. The blocklist decides again; should it
/// keep losing, the caller gets UNAVAILABLE and may try again.
public struct BlocklistEntryConflict: PrivacyError, Equatable {
  public static let errorDomain = "privacy.blocklist.v1"
  public var statusCode: StatusCode { .unavailable }
  public var message: String { "another replica changed these entries at the same moment; try again" }
  public var reason: String? { "CONCURRENT_CHANGE" }

  public init() {}
}
