import Foundation

/// Everything one write changes, committed in one transaction.
public struct BlocklistCommit: Sendable {
  public var added: [BlocklistEntry] = []
  /// Entries removed now: their full hash is discarded and the removal recorded.
  public var removed: [(entryID: String, removal: BlocklistEntry.Removal)] = []

  public init() {}

  public var isEmpty: Bool { added.isEmpty && removed.isEmpty }
}

/// Where the blocklist keeps its entries. Only keyed hashes and their metadata are ever handed to
/// a store; no identifier value reaches it.
public protocol BlocklistStore: Sendable {
  /// Every active entry, to build the in-memory lookup at start.
  func activeEntries() async throws -> [BlocklistEntry]
  /// How many active entries each pepper id hashed.
  func activeCountsByPepper() async throws -> [String: Int]
  func commit(_ commit: BlocklistCommit) async throws
  /// Entries matching `filter`, newest first (`added_at`, then `entry_id`, both descending),
  /// strictly after `cursor`.
  func entries(_ filter: EntryFilter, after cursor: EntryCursor?, limit: Int) async throws -> [BlocklistEntry]
}
