import Foundation
import Logging
import PrivacyKit
import PrivacyProtocol

/// Completes the requests that wait for their art 19 notices, so that none waits for an operator
/// to call ExecuteRequest again. Every `GATEWAY_NOTICE_FOLLOW_UP_S` (default 60), one gateway of
/// several (a lease in its database) looks for IN_PROGRESS requests whose last step is a failed
/// `recipients_notified` and runs each again: a run whose notices are all delivered or failed for
/// good completes the request, and the others stay for the next look. Each run is audited
/// write-ahead as actor `gateway`, role `notice-follow-up`.
final class NoticeFollowUp: ServerCompanion {
  static let name = "notice-follow-up"
  static let role = "notice-follow-up"

  private let gateway: Gateway
  private let store: any ReactorStore
  private let interval: Duration
  private let holder = UUID().uuidString.lowercased()
  private let logger: Logger
  private let running = StoppableLoop()

  init(gateway: Gateway, store: any ReactorStore, interval: Duration, logger: Logger) {
    self.gateway = gateway
    self.store = store
    self.interval = interval
    self.logger = logger
  }

  func run() async throws {
    await running.run { await self.loop() }
  }

  func stop() { running.stop() }

  private func loop() async {
    while !Task.isCancelled {
      do {
        try await Task.sleep(for: interval)
        try await followUp()
      } catch {
        if Task.isCancelled { break }
        logger.warning("following up art 19 notices failed; tried again later", metadata: ["error.type": "\(type(of: error))"])
      }
    }
  }

  private func followUp() async throws {
    let now = Date()
    // Held for a few looks at most: a gateway that dies holding it delays the next one, no more.
    guard try await store.acquireLease(Self.name, holder: holder, now: now, until: now + 3 * interval.timeInterval + 60) else { return }
    defer {
      let store = self.store
      let holder = self.holder
      Task { try? await store.releaseLease(Self.name, holder: holder) }
    }
    let method = Privacy_Gateway_V1_AdminService.Method.ExecuteRequest.descriptor.fullyQualifiedMethod
    let lookup = gateway.systemContext(role: Self.role, method: method, budget: gateway.settings.workflowTimeout)
    let waiting = try await lookup.requests(.with { $0.status = .inProgress }).filter { request in
      request.steps.last.map { $0.name == RecipientDeliveryStep.name && $0.status == .failed } ?? false
    }
    for request in waiting {
      let context = gateway.systemContext(role: Self.role, method: method, budget: gateway.settings.workflowTimeout)
      var draft = AuditDraft(
        requestID: context.call.requestID, actor: context.call.principal.actor, role: context.call.principal.role, method: method,
        subjectID: request.subjectID, reason: "art 19 notices of request \(request.requestID) followed up", statusCode: 0, phase: .intent)
      _ = try await gateway.audit.record(draft)
      draft.phase = .outcome
      do {
        _ = try await RequestExecution(context: context).execute(requestID: request.requestID)
      } catch {
        let failure = StepLog.rpcError(error)
        draft.statusCode = failure.code.rawValue
        draft.statusMessage = String(failure.message.prefix(1000))
      }
      _ = try await gateway.audit.record(draft)
    }
  }
}
