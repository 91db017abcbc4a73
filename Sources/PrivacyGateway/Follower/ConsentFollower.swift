import Foundation
import GRPCCore
import Logging
import PrivacyKit
import PrivacyProtocol

/// Keeps the gateway's `ConsentCopy` in step with the consent ledger: follows
/// `WatchConsentEvents` from the last event the copy holds, asking for a `caught_up` marker
/// every quarter of the staleness bound, and lists the purposes and mailing lists again when a
/// marker says they changed. A broken feed is taken up again with backoff; meanwhile the copy
/// answers until its staleness bound passes, as a consent replica that lost its database does.
/// A copy found not to be of the ledger (LEDGER_DIVERGED) is built again from the start.
/// The copy starts empty at each start of the gateway: it replays
/// the ledger once, then follows it live.
final class ConsentFollower: ServerCompanion {
  static let role = "consent-follower"

  private let gateway: Gateway
  private let copy: ConsentCopy
  private let logger: Logger
  private let running = StoppableLoop()

  init(gateway: Gateway, copy: ConsentCopy, logger: Logger) {
    self.gateway = gateway
    self.copy = copy
    self.logger = logger
  }

  func run() async throws {
    await running.run { await self.loop() }
  }

  func stop() { running.stop() }

  private func loop() async {
    var backoff = Backoff(ceiling: .seconds(5))
    while !Task.isCancelled {
      do {
        try await follow()
        backoff.reset()
      } catch let error as RPCError where error.code == .failedPrecondition && error.errorInfoReason == "LEDGER_DIVERGED" {
        // The service's event at the copy's position is not the copy's. Any other refusal is a
        // broken feed like the rest: retried, the copy kept.
        diverged(error.message)
        continue
      } catch is LedgerBehindCopy {
        diverged("the feed's marker names an event before the copy's last")
        continue
      } catch {
        if Task.isCancelled { break }
        logger.warning(
          "the gateway's copy of the consent ledger lost its feed; it answers until its staleness bound passes, then the consent service does",
          metadata: ["error.type": "\(type(of: error))", "rpc.code": "\((error as? RPCError)?.code.description ?? "")"])
      }
      try? await Task.sleep(for: backoff.next())
    }
  }

  /// The copy is not of the ledger it follows (restored from an older backup, say): it is built
  /// again from the start; meanwhile the service answers every check.
  private func diverged(_ why: String) {
    logger.error("the gateway's copy of the consent ledger is not of this ledger; rebuilding it from the start", metadata: ["why": "\(why)"])
    copy.restart()
  }

  /// Follows the feed until it ends, from the copy's last event (and its hash, which the service
  /// checks against its own).
  private func follow() async throws {
    let heartbeat = min(max(copy.maxStaleness / 4, .milliseconds(100)), .seconds(60))
    let position = copy.mirror.position
    let request = Privacy_Consent_V1_WatchConsentEventsRequest.with {
      $0.afterSequence = position.sequence
      $0.afterHash = position.hash
      $0.heartbeatMilliseconds = UInt32(heartbeat / .milliseconds(1))
    }
    let metadata = CallerIdentity(actor: "gateway", role: Self.role, requestID: UUID().uuidString.lowercased())
      .metadata(internalToken: gateway.settings.internalToken)
    var options = CallOptions.defaults
    options.waitForReady = false
    try await gateway.backends.consent.serverStreaming(
      request, method: ConsentMethod.WatchConsentEvents.descriptor, metadata: metadata, options: options
    ) { (messages: RPCAsyncSequence<Privacy_Consent_V1_WatchConsentEventsResponse, any Error>) in
      for try await message in messages {
        guard message.hasCaughtUp else {
          self.copy.mirror.apply(message.event)
          continue
        }
        let marker = message.caughtUp
        if self.copy.needsCatalogue(marker) {
          try await self.copy.refreshCatalogue { try await self.listCatalogue() }
        }
        // Events come in order before their marker, so the marker names the copy's last event;
        // anything else means the ledger moved back under the feed.
        guard marker.sequence == self.copy.mirror.sequence else { throw LedgerBehindCopy() }
        self.copy.caughtUp()
      }
    }
  }

  private struct LedgerBehindCopy: Error {}

  private func listCatalogue() async throws -> (purposes: [Privacy_Consent_V1_Purpose], lists: [Privacy_Consent_V1_MailingList]) {
    let context = gateway.systemContext(
      role: Self.role, method: ConsentMethod.ListPurposes.descriptor.fullyQualifiedMethod, budget: gateway.settings.backendTimeout)
    return (
      try await context.all(ConsentMethod.ListPurposes.self, .init(), \.purposes),
      try await context.all(ConsentMethod.ListMailingLists.self, .init(), \.lists)
    )
  }
}
