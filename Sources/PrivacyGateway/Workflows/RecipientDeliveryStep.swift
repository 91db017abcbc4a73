import Foundation
import GRPCCore
import PrivacyKit
import PrivacyProtocol

/// The step that tells the recipients (art 19): it queues each listed recipient's notice in the
/// subject-rights service (by mail and by signed webhook, as the recipient has them), then waits
/// for the mail relay. It is DONE only when every delivery is delivered or failed for good, and its
/// detail says which; while some are still queued after `GATEWAY_NOTICE_WAIT_MS` it fails with
/// UNAVAILABLE and the request stays IN_PROGRESS: a later run asks again (queueing nothing
/// twice) and completes it, the gateway's own (`NoticeFollowUp`) or anyone's ExecuteRequest.
enum RecipientDeliveryStep {
  static let name = "recipients_notified"
  /// How often the deliveries are looked at while the step waits.
  static let pollInterval = Duration.milliseconds(200)
  /// NotifyRecipients takes at most this many notices a call.
  static let chunk = 100

  /// Runs the step; answers the notices that reached their recipient or that the controller gives
  /// by hand (a recipient without a channel), which the completed request records as notified.
  static func run(
    _ log: inout StepLog, context: WorkflowContext, notices: [Privacy_Gateway_V1_RecipientNotice]
  ) async throws -> [Privacy_Gateway_V1_RecipientNotice] {
    guard !notices.isEmpty else { return [] }
    let requestID = log.requestID
    let detail = try await log.run(name) {
      let end = ContinuousClock.now + context.settings.noticeWait
      while true {
        let deliveries = try await deliveries(of: notices, requestID: requestID, context: context)
        let queued = deliveries.filter { $0.state == .queued }.count
        if queued == 0 { return describe(deliveries) }
        let hasTime = ContinuousClock.now + pollInterval < end
          && context.call.deadline.map { ContinuousClock.now + pollInterval + WorkflowContext.answerReserve < $0 } ?? true
        guard hasTime else {
          throw RPCError(
            code: .unavailable,
            message: "\(queued) of \(deliveries.count) art 19 notice(s) not delivered yet; the gateway completes the request once they are")
        }
        try await Task.sleep(for: pollInterval)
      }
    }
    let settled = StepDetail.object(detail)["deliveries"] as? [[String: Any]] ?? []
    // Told: at least one channel delivered (or the controller tells it by hand); a recipient whose
    // every channel failed is left out, and the step's detail names it.
    let told = Set(settled.filter { ["DELIVERED", "MANUAL"].contains($0["state"] as? String) }.compactMap { $0["recipient_id"] as? String })
    return notices.filter { told.contains($0.recipient.recipientID) }
  }

  private static func deliveries(
    of notices: [Privacy_Gateway_V1_RecipientNotice], requestID: String, context: WorkflowContext
  ) async throws -> [Privacy_Rights_V1_RecipientDelivery] {
    var deliveries: [Privacy_Rights_V1_RecipientDelivery] = []
    for start in stride(from: 0, to: notices.count, by: chunk) {
      deliveries += try await context.send(RightsMethod.NotifyRecipients.self, .with {
        $0.requestID = requestID
        $0.notices = notices[start..<min(start + chunk, notices.count)].map { notice in
          .with {
            $0.recipientID = notice.recipient.recipientID
            $0.summary = String(notice.notice.prefix(2000))
            $0.fields = notice.fields
          }
        }
      }).deliveries
    }
    return deliveries
  }

  /// Which recipient was told how, and what became of it: ids, channels, states and the mail
  /// server's or endpoint's last word (addresses already taken out), never an address.
  private static func describe(_ deliveries: [Privacy_Rights_V1_RecipientDelivery]) -> String {
    StepDetail.json([
      "deliveries": deliveries.map { delivery -> [String: any Sendable] in
        var entry: [String: any Sendable] = [
          "recipient_id": delivery.recipientID, "channel": Self.name(delivery.channel), "state": Self.name(delivery.state),
        ]
        if !delivery.messageID.isEmpty { entry["message_id"] = delivery.messageID }
        if !delivery.delivery.lastFailure.isEmpty { entry["last_failure"] = delivery.delivery.lastFailure }
        return entry
      }
    ])
  }

  private static func name(_ channel: Privacy_Rights_V1_NoticeChannel) -> String {
    switch channel {
    case .email: "EMAIL"
    case .webhook: "WEBHOOK"
    case .manual: "MANUAL"
    default: "UNSPECIFIED"
    }
  }

  private static func name(_ state: Privacy_Rights_V1_DeliveryState) -> String {
    switch state {
    case .queued: "QUEUED"
    case .delivered: "DELIVERED"
    case .failed: "FAILED"
    case .manual: "MANUAL"
    default: "UNSPECIFIED"
    }
  }
}
