public import PrivacyKit
/// Where the audit log lives. Entries are only ever appended.
public protocol AuditStore: Sendable {
  /// The last entry's sequence and hash; `ChainHead.empty` for an empty log.
  func head() async throws -> ChainHead
  /// Appends entries in one transaction: all are durable when it returns, or none is written.
  func append(_ entries: [AuditEntry]) async throws
  /// Entries matching the query, newest first, at most `query.limit`.
  func entries(_ query: AuditQuery) async throws -> [AuditEntry]
  /// Walks every entry in sequence order into the verifier.
  func verify(into verifier: inout ChainVerifier) async throws
}
