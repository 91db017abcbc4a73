public import Foundation

/// Where a gateway task that follows a feed (the consent reactor) keeps its place, and the lease
/// that lets one gateway of several run it at a time.
public protocol ReactorStore: Sendable {
  /// The last position the named task finished; 0 when it never ran.
  func cursor(_ name: String) async throws -> UInt64
  /// Records the position the named task has finished.
  func saveCursor(_ name: String, _ position: UInt64) async throws
  /// Takes or renews the named lease for `holder` until `until` when it is free, expired at `now`,
  /// or already `holder`'s; false when another holder has it.
  func acquireLease(_ name: String, holder: String, now: Date, until: Date) async throws -> Bool
  /// Gives the lease up, if `holder` has it.
  func releaseLease(_ name: String, holder: String) async throws
}
