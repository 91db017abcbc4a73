import Foundation
import GRPCCore
import PrivacyKit
import PrivacyProtocol

/// RunRetentionSweep: every subject due under the retention policies gets an ERASURE request with
/// origin RETENTION, verified by the controller and executed; then PurposeRetention erases the
/// fields kept only under storage purposes whose `retention_days` ran out. Safe to run twice: the rights
/// service no longer lists a subject once its retention erasure is open or completed, requests
/// are opened with an idempotency key (subject and last engagement), and open retention
/// erasures left by an earlier run are resumed, not duplicated. One subject's failure is
/// reported and the sweep goes on; a deadline that runs out ends the sweep with
/// DEADLINE_EXCEEDED (run it again to continue).
struct RetentionSweep {
  let context: WorkflowContext

  func run(_ message: Privacy_Gateway_V1_RunRetentionSweepRequest) async throws -> Privacy_Gateway_V1_RunRetentionSweepResponse {
    if message.hasNow, !message.now.isWellFormed { throw InvalidArgument("now is outside the supported timestamp range") }
    if message.hasPurposeRetentionSince, !message.purposeRetentionSince.isWellFormed {
      throw InvalidArgument("purpose_retention_since is outside the supported timestamp range")
    }
    let now = message.hasNow ? message.now : Date().protoTimestamp
    let due = try await context.all(RightsMethod.ListDueForRetention.self, .with { $0.now = now }, \.due)
    let open = try await context.requests(.with {
      $0.right = .erasure
      $0.origin = .retention
      $0.openOnly = true
    })

    var response = Privacy_Gateway_V1_RunRetentionSweepResponse()
    response.evaluatedAt = now
    response.subjectsDue = UInt32(due.count + open.count)
    for request in open {
      await finish(request, subjectID: request.subjectID, into: &response)
      try checkDeadline()
    }
    for entry in due {
      do {
        let opened = try await context.send(RightsMethod.OpenRequest.self, .with {
          $0.subjectID = entry.subjectID
          $0.right = .erasure
          $0.origin = .retention
          $0.idempotencyKey = "retention:\(entry.subjectID):\(entry.lastEngagementAt.seconds)"
          $0.details = .with { $0.note = "retention policy \(entry.policyName)" }
        })
        if opened.created { response.requestsOpened += 1 }
        await finish(opened.request, subjectID: entry.subjectID, into: &response, policy: entry.policyName)
      } catch {
        response.failures.append(.with {
          $0.subjectID = entry.subjectID
          $0.error = Self.describe(error)
        })
      }
      try checkDeadline()
    }
    try await PurposeRetention(context: context).run(
      now: now.date, since: message.hasPurposeRetentionSince ? message.purposeRetentionSince.date : nil, into: &response,
      checkDeadline: checkDeadline)
    return response
  }

  /// Verifies (the controller needs no identity check) and executes one retention erasure.
  private func finish(
    _ request: Privacy_Rights_V1_DataSubjectRequest, subjectID: String, into response: inout Privacy_Gateway_V1_RunRetentionSweepResponse,
    policy: String = ""
  ) async {
    do {
      if [.received, .verifying].contains(request.status) {
        _ = try await context.send(RightsMethod.VerifyManually.self, .with {
          $0.requestID = request.requestID
          $0.note = policy.isEmpty ? "due under a retention policy" : "due under retention policy \(policy)"
        })
      }
      let executed = try await RequestExecution(context: context).execute(requestID: request.requestID).message
      if executed.status == .completed {
        response.requestsCompleted += 1
        // One entry per subject erased, naming why, whoever ran the sweep.
        _ = try await context.gateway.audit.record(AuditDraft(
          requestID: context.call.requestID, actor: context.call.principal.actor, role: context.call.principal.role,
          method: context.call.method, subjectID: subjectID,
          reason: "erased under \(policy.isEmpty ? "a retention policy" : "retention policy \(policy)") (request \(request.requestID))",
          statusCode: 0))
      }
    } catch {
      let info = try? StepLog.rpcError(error).unpackGoogleRPCStatus()
      let step = info?.details.lazy.compactMap(\.errorInfo).first?.metadata["step"] ?? ""
      response.failures.append(.with {
        $0.subjectID = subjectID
        $0.requestID = request.requestID
        $0.step = step
        $0.error = Self.describe(error)
      })
    }
  }

  private func checkDeadline() throws {
    if let deadline = context.call.deadline, ContinuousClock.now >= deadline {
      throw RPCError(code: .deadlineExceeded, message: "the retention sweep ran out of time; run it again to continue")
    }
  }

  private static func describe(_ error: any Error) -> String {
    let rpc = StepLog.rpcError(error)
    return "\(rpc.code.canonicalName): \(rpc.message)"
  }
}
