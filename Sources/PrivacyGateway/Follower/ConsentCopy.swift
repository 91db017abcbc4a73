import PrivacyConsent
import PrivacyProtocol
import Synchronization

/// The gateway's own copy of the consent ledger (`LedgerMirror`, fed by `ConsentFollower`), and
/// the rule for when it answers `CheckConsent`, `CheckConsentBatch` and `CheckEmailEligibility`
/// in the consent service's place. It does so only while all of these hold; otherwise the call
/// goes to the service as before:
/// - the service said the copy held every event (a `caught_up` marker on the feed) at most
///   `maxStaleness` ago: the rule of the consent replicas (`REPLICA_MAX_STALENESS_MS`);
/// - the copy holds every event the service's answers to this gateway named (`LedgerPosition`),
///   so a caller reads what they (or anyone) wrote through this gateway;
/// - its catalogue was listed after the last purpose or mailing list changed through this
///   gateway, and gives the digest the last marker named.
/// Authentication, authorization, audit and evidence filtering are the gateway's, as for any call.
final class ConsentCopy: Sendable {
  let mirror = LedgerMirror()
  let maxStaleness: Duration
  private let position: LedgerPosition

  private struct State {
    var caughtUpAt: ContinuousClock.Instant?
    /// Moves on each purpose or list change made through this gateway.
    var catalogueGeneration: UInt64 = 0
    /// The generation the held catalogue was listed at; nil before the first listing.
    var catalogueListedAt: UInt64?
  }

  private let state = Mutex(State())

  init(maxStaleness: Duration, position: LedgerPosition) {
    self.maxStaleness = maxStaleness
    self.position = position
  }

  /// The copy when it may answer now; nil: ask the service.
  var current: LedgerMirror? {
    let usable = state.withLock { state in
      guard let caughtUpAt = state.caughtUpAt, ContinuousClock.now - caughtUpAt <= maxStaleness else { return false }
      return state.catalogueListedAt == state.catalogueGeneration
    }
    guard usable, mirror.sequence >= position.sequence else { return nil }
    return mirror
  }

  /// Where the copy stands, for GetBackendHealth.
  var health: Privacy_Gateway_V1_ConsentCopyState {
    let caughtUpAt = state.withLock { $0.caughtUpAt }
    return .with {
      $0.answering = current != nil
      $0.sequence = mirror.sequence
      $0.subjects = UInt64(mirror.subjectCount)
      if let caughtUpAt { $0.sinceCaughtUp = .init(rounding: ContinuousClock.now - caughtUpAt) }
    }
  }

  /// The service said, now, that the copy holds every event.
  func caughtUp() { state.withLock { $0.caughtUpAt = .now } }

  /// The feed showed the copy is not of the ledger it follows: it stops answering, forgets
  /// everything (the position too: the old ledger's sequences mean nothing in this one) and is
  /// built again from the start of the feed.
  func restart() {
    state.withLock { $0.caughtUpAt = nil }
    mirror.reset()
    position.reset()
  }

  /// A purpose or mailing list changed through this gateway: the catalogue must be listed again.
  func catalogueChanged() { state.withLock { $0.catalogueGeneration += 1 } }

  /// Whether the catalogue must be listed again before the copy answers.
  func needsCatalogue(_ marker: Privacy_Consent_V1_CaughtUp) -> Bool {
    state.withLock { $0.catalogueListedAt != $0.catalogueGeneration } || mirror.catalogueDigest != marker.catalogueDigest
  }

  /// Lists the catalogue with `list` and holds it; a change through this gateway during the
  /// listing leaves it to be listed again.
  func refreshCatalogue(
    list: () async throws -> (purposes: [Privacy_Consent_V1_Purpose], lists: [Privacy_Consent_V1_MailingList])
  ) async throws {
    let generation = state.withLock { $0.catalogueGeneration }
    let catalogue = try await list()
    mirror.replaceCatalogue(purposes: catalogue.purposes, lists: catalogue.lists)
    state.withLock { $0.catalogueListedAt = generation }
  }
}
