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
    var delay = Duration.milliseconds(100)
    while !Task.isCancelled {
      do {
        try await follow()
        delay = .milliseconds(100)
      } catch {
        if Task.isCancelled { break }
        logger.warning(
          "the gateway's copy of the consent ledger lost its feed; it answers until its staleness bound passes, then the consent service does",
          metadata: ["error.type": "\(type(of: error))", "rpc.code": "\((error as? RPCError)?.code.description ?? "")"])
        delay = min(delay * 2, .seconds(5))
      }
      try? await Task.sleep(for: delay)
    }
  }

  /// Follows the feed until it ends.
  private func follow() async throws {
    let heartbeat = min(max(copy.maxStaleness / 4, .milliseconds(100)), .seconds(60))
    let request = Privacy_Consent_V1_WatchConsentEventsRequest.with {
      $0.afterSequence = copy.mirror.sequence
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
        // Events come in order before their marker; a copy ahead of the service (a ledger
        // restored from an older backup) must not answer for it.
        guard marker.sequence == self.copy.mirror.sequence else {
          self.logger.error(
            "the consent ledger is behind the gateway's copy of it; checks go to the consent service until the gateway restarts",
            metadata: ["ledger.sequence": "\(marker.sequence)", "copy.sequence": "\(self.copy.mirror.sequence)"])
          self.copy.distrust()
          throw LedgerBehindCopy()
        }
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
