import GRPCCore
import PrivacyKit
import Synchronization

/// The furthest ledger event the consent service's answers to this gateway have named
/// (`x-ledger-sequence` in their trailers): whatever a caller wrote through this gateway is at
/// or before it, so the gateway's copy of the ledger must hold that far before it answers.
final class LedgerPosition: Sendable {
  private let furthest = Mutex<UInt64>(0)

  var sequence: UInt64 { furthest.withLock { $0 } }

  func observe(_ trailers: Metadata) {
    guard let text = trailers[stringValues: MetadataKey.ledgerSequence].first(where: { _ in true }), let sequence = UInt64(text) else {
      return
    }
    furthest.withLock { $0 = max($0, sequence) }
  }

  /// Forgets the position: the ledger it was read from is not the one the service now holds.
  func reset() { furthest.withLock { $0 = 0 } }
}
