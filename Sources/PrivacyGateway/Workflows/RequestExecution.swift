import Foundation
import GRPCCore
import PrivacyKit
import PrivacyProtocol

/// What a right's workflow produced, for CompleteRequest and the ExecuteRequest answer.
struct WorkflowOutcome {
  /// The outcome fields of the answer (evidence, recipients, fields, purposes); holds no
  /// personal data and is stored as the request's outcome (JSON).
  var report = Privacy_Gateway_V1_ExecuteRequestResponse()
  /// ACCESS and PORTABILITY: the bundle.
  var artifact: Privacy_Rights_V1_Artifact?
  /// Vault fields put in clear into the artifact (audited as revealed).
  var fieldsRevealed: [String] = []
  /// The recipients told about the outcome (art 19), when the workflow delivered its notices;
  /// nil: the listed ones (`report.recipientsToNotify`), told by the controller.
  var recipientsTold: [Privacy_Gateway_V1_RecipientNotice]?
}

/// ExecuteRequest: runs a verified request to completion through its right's workflow, resuming
/// from the step log when an earlier run stopped half-way.
struct RequestExecution {
  let context: WorkflowContext

  func execute(requestID: String) async throws -> Gateway.Answer<Privacy_Gateway_V1_ExecuteRequestResponse> {
    // Checked before the lease: its name is stored, and the rights service would refuse it anyway.
    let requestID = try Validate.requestID(requestID)
    return try await RequestLease(context: context).holding(requestID) { try await self.executeHoldingLease(requestID: requestID) }
  }

  private func executeHoldingLease(requestID: String) async throws -> Gateway.Answer<Privacy_Gateway_V1_ExecuteRequestResponse> {
    var request = try await context.send(RightsMethod.GetRequest.self, .with { $0.requestID = requestID }).request
    context.call.concerns(subject: request.subjectID)
    switch request.status {
    case .completed:
      return Gateway.Answer(Self.answer(for: request, resumed: false))
    case .rejected:
      throw WorkflowError.rejected
    case .verified:
      request = try await context.send(RightsMethod.StartProcessing.self, .with { $0.requestID = requestID }).request
    case .inProgress:
      break
    default:
      throw WorkflowError.notVerified(status: request.status.protoName)
    }
    var log = StepLog(context: context, request: request)
    let resumed = log.hasFinishedSteps
    let outcome = try await run(request, log: &log)
    // Minted after the steps: an erased subject's notice gets no link.
    let preferenceURL = try await context.preferenceURL(forMailAbout: request)
    let completed = try await context.send(RightsMethod.CompleteRequest.self, .with {
      $0.requestID = requestID
      $0.preferenceURL = preferenceURL
      $0.outcome = StepDetail.encode(outcome.report)
      if let artifact = outcome.artifact { $0.artifact = artifact }
      $0.recipientsNotified = (outcome.recipientsTold ?? outcome.report.recipientsToNotify).map { notice in
        .with {
          $0.recipientID = notice.recipient.recipientID
          $0.summary = String(notice.notice.prefix(2000))
        }
      }
    }).request
    return Gateway.Answer(Self.answer(for: completed, resumed: resumed), fieldsRevealed: outcome.fieldsRevealed)
  }

  private func run(_ request: Privacy_Rights_V1_DataSubjectRequest, log: inout StepLog) async throws -> WorkflowOutcome {
    switch request.right {
    case .erasure: try await ErasureWorkflow(context: context, request: request).run(&log)
    case .access, .portability: try await AccessWorkflow(context: context, request: request).run(&log)
    case .restriction: try await RestrictionWorkflow(context: context, request: request).run(&log)
    case .rectification: try await RectificationWorkflow(context: context, request: request).run(&log)
    case .objection, .automatedDecision: try await ObjectionWorkflow(context: context, request: request).run(&log)
    case .notification: try await NotificationWorkflow(context: context, request: request).run(&log)
    default: throw RPCError(code: .failedPrecondition, message: "the request names no right the gateway can execute")
    }
  }

  /// The answer for a completed request, read back from what the rights service stored.
  static func answer(for request: Privacy_Rights_V1_DataSubjectRequest, resumed: Bool) -> Privacy_Gateway_V1_ExecuteRequestResponse {
    var answer = StepDetail.message(request.outcome, as: Privacy_Gateway_V1_ExecuteRequestResponse.self) ?? .init()
    answer.requestID = request.requestID
    answer.right = request.right
    answer.status = request.status
    answer.steps = request.steps
    answer.resumed = resumed
    if request.hasClosedAt { answer.completedAt = request.closedAt }
    if request.hasArtifact { answer.artifact = request.artifact }
    return answer
  }
}

extension Privacy_Rights_V1_RequestStatus {
  /// The enum value's name as in the proto, e.g. "REQUEST_STATUS_VERIFYING".
  var protoName: String {
    switch self {
    case .unspecified: "REQUEST_STATUS_UNSPECIFIED"
    case .received: "REQUEST_STATUS_RECEIVED"
    case .verifying: "REQUEST_STATUS_VERIFYING"
    case .verified: "REQUEST_STATUS_VERIFIED"
    case .inProgress: "REQUEST_STATUS_IN_PROGRESS"
    case .completed: "REQUEST_STATUS_COMPLETED"
    case .rejected: "REQUEST_STATUS_REJECTED"
    case .UNRECOGNIZED(let value): "REQUEST_STATUS_\(value)"
    }
  }
}
