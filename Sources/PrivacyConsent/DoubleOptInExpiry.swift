public import Logging
public import PrivacyKit

/// Writes the expiry of double opt-in links into the ledger as they lapse
/// (`DOUBLE_OPT_IN_EXPIRED` events), every `interval` (`DOUBLE_OPT_IN_EXPIRY_CHECK_SECONDS`,
/// default 60): a contact that waits for its double opt-in is erased by whoever follows the
/// ledger (the gateway), so the expiry must be an event, not only a refused click. Each expiry
/// is recorded once: the confirmation is marked in the same transaction as its event. The same
/// round deletes the preference links that no longer open a page.
public final class DoubleOptInExpiry: ServerCompanion {
  private let ledger: ConsentLedger
  /// Closed preference links are deleted on the same round.
  private let links: PreferenceLinks
  private let interval: Duration
  private let logger: Logger
  private let running = StoppableLoop()

  public init(ledger: ConsentLedger, links: PreferenceLinks, interval: Duration, logger: Logger) {
    self.ledger = ledger
    self.links = links
    self.interval = interval
    self.logger = logger
  }

  public func run() async throws {
    await running.run { await self.loop() }
  }

  public func stop() { running.stop() }

  private func loop() async {
    let batch = 500
    while !Task.isCancelled {
      do {
        // A full batch means more may wait: take them at once.
        while try await ledger.recordExpiredDoubleOptIns(limit: batch) == batch {}
        _ = try await links.deleteClosed()
        try await Task.sleep(for: interval)
      } catch {
        if Task.isCancelled { break }
        logger.warning("recording expired double opt-ins failed; retried later", metadata: ["error.type": "\(type(of: error))"])
        try? await Task.sleep(for: interval)
      }
    }
  }
}
