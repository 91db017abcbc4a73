public import Foundation

/// Where a gateway task that follows a feed (the consent reactor) keeps its place, the lease
/// that lets one gateway of several run it at a time, and what waits for a person's confirmation.
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
  /// Remembers that the subject re-entered through their own webform while it waits for its
  /// double opt-in: the blocklist entries its identifiers match go only when the person confirms.
  func holdReentry(_ subjectID: String, at: Date) async throws
  /// Whether a re-entry waits for the subject's confirmation.
  func isReentryHeld(_ subjectID: String) async throws -> Bool
  /// Forgets a held re-entry (applied on confirmation, or the link expired).
  func dropReentry(_ subjectID: String) async throws
}
