public import PrivacyKit

/// Where the audit log lives (`SQLiteAuditStore`, `PostgresAuditStore`). Entries are only ever
/// appended.
public protocol AuditStore: Sendable {
  /// The last entry's sequence and hash; `ChainHead.empty` for an empty log.
  func head() async throws -> ChainHead
  /// Appends the entries `seal` makes after the log's current head and returns them. One
  /// transaction holds the log's write lock from reading the head to the commit, so gateways
  /// sharing one database extend one chain and never fork it. All are durable when it returns,
  /// or none is written.
  func append(_ seal: @escaping @Sendable (ChainHead) -> [AuditEntry]) async throws -> [AuditEntry]
  /// Entries matching the query, newest first, at most `query.limit`.
  func entries(_ query: AuditQuery) async throws -> [AuditEntry]
  /// The entries after `sequence` in sequence order, at most `limit`, each read back or the
  /// column that holds a value no gateway wrote (for verification).
  func chain(after sequence: UInt64, limit: Int) async throws -> [Result<AuditEntry, AuditCorruption>]
  /// Stores a signed checkpoint (again for the same sequence: kept once).
  func saveCheckpoint(_ checkpoint: AuditCheckpoint) async throws
  /// Checkpoints after `sequence`, oldest first, at most `limit`.
  func checkpoints(after sequence: UInt64, limit: Int) async throws -> [AuditCheckpoint]
}

/// A stored audit row that cannot be read back: the column holds a value no gateway wrote.
public struct AuditCorruption: Error, Equatable {
  public var sequence: UInt64
  public var column: String

  public init(sequence: UInt64, column: String) {
    self.sequence = sequence
    self.column = column
  }
}
