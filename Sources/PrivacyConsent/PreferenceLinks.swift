public import Foundation
public import PrivacyKit

/// Mints, resolves and revokes the personal links to subjects' preference pages. Links are not
/// consent decisions: they live beside the ledger, not in it, and minting one takes no write lock.
public struct PreferenceLinks: Sendable {
  let store: any ConsentStore
  let ledger: ConsentLedger
  let settings: ConsentSettings

  public init(store: any ConsentStore, ledger: ConsentLedger, settings: ConsentSettings) {
    self.store = store
    self.ledger = ledger
    self.settings = settings
  }

  /// A new link for the subject's mail footer. The token is 256 random bits; only its hash is kept.
  public func mint(subjectID: String) async throws -> MintedPreferenceLink {
    if ledger.isErased(subjectID) { throw ConsentError.subjectErased(subjectID) }
    let minted = MintedPreferenceLink(
      subjectID: subjectID, base: settings.publicBaseURL, now: ledger.now(), lifetime: settings.preferenceLinkLifetime)
    try await store.insertPreferenceLink(minted.link)
    return minted
  }

  /// The open link a token belongs to. Unknown, expired, revoked and erased are one refusal.
  /// The erased check covers a link minted while its subject was being erased.
  public func resolve(token: String) async throws -> PreferenceLink {
    guard let link = try await store.preferenceLink(tokenHash: SecureToken.hash(token)), link.isOpen(at: ledger.now()),
      !ledger.isErased(link.subjectID)
    else { throw ConsentError.preferenceLinkInvalid }
    return link
  }

  /// Deletes the links that no longer open a page, a batch at a time; returns how many. Their
  /// refusal stays the same (a deleted token is as unknown as an expired one), and nothing is
  /// kept about a subject longer than it serves.
  public func deleteClosed(batch: Int = 1000) async throws -> Int {
    var total = 0
    while true {
      let deleted = try await store.deleteClosedPreferenceLinks(at: ledger.now(), limit: batch)
      total += deleted
      if deleted < batch { return total }
    }
  }

  /// Revokes every link of the subject still open; returns how many.
  public func revoke(subjectID: String) async throws -> Int {
    try await store.revokePreferenceLinks(subjectID: subjectID, at: ledger.now())
  }
}
