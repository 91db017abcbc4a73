import GRPCCore
import PrivacyKit

/// The refusals and failures of AdminService workflows a client can branch on (ErrorInfo domain
/// `privacy.gateway.v1`).
struct WorkflowError: PrivacyError {
  static let errorDomain = "privacy.gateway.v1"
  var statusCode: StatusCode
  var message: String
  var reason: String?
  var reasonMetadata: [String: String]

  init(_ statusCode: StatusCode, _ message: String, reason: String? = nil, metadata: [String: String] = [:]) {
    self.statusCode = statusCode
    self.message = message
    self.reason = reason
    self.reasonMetadata = metadata
  }

  static func notVerified(status: String) -> Self {
    Self(.failedPrecondition, "the request is not verified (status \(status))", reason: "REQUEST_NOT_VERIFIED", metadata: ["status": status])
  }

  static let rejected = Self(.failedPrecondition, "the request was rejected", reason: "REQUEST_REJECTED")

  static func previouslyErased(erasedAt: String, reason: String) -> Self {
    Self(
      .failedPrecondition,
      "an identifier belongs to a person erased at \(erasedAt); re-entry needs the person's own webform submission or an allowed override",
      reason: "SUBJECT_PREVIOUSLY_ERASED", metadata: ["erased_at": erasedAt, "reason": reason])
  }

  static func overrideNotPermitted(role: String) -> Self {
    Self(.permissionDenied, "role \(role) may not override a blocklist match", reason: "BLOCKLIST_OVERRIDE_NOT_PERMITTED")
  }

  static func notConsentBased(purpose: String, basis: String) -> Self {
    Self(
      .failedPrecondition, "purpose \(purpose.clipped) is not consent-based (\(basis)); an objection goes through an OBJECTION request",
      reason: "NOT_CONSENT_BASED", metadata: ["legal_basis": basis])
  }
}

/// A workflow step that failed for good (or ran out of retries): the error the caller gets.
/// NOT_FOUND, UNAVAILABLE and DEADLINE_EXCEEDED keep their code (the request resumes on the next
/// call); anything else becomes FAILED_PRECONDITION `WORKFLOW_STEP_FAILED`.
enum StepFailure {
  static func error(requestID: String, step: String, attempts: Int32, underlying: RPCError) -> any Error {
    let text = "\(underlying.code.canonicalName): \(underlying.message)"
    switch underlying.code {
    case .notFound:
      return RPCError(code: .notFound, message: "step \(step.clipped) of request \(requestID.clipped): \(underlying.message)")
    case .unavailable, .deadlineExceeded:
      return RPCError(
        code: underlying.code,
        message: "step \(step.clipped) of request \(requestID.clipped): \(underlying.message); the request stays IN_PROGRESS and resumes on the next ExecuteRequest")
    default:
      return WorkflowError(
        .failedPrecondition, "step \(step.clipped) of request \(requestID.clipped) failed: \(text)", reason: "WORKFLOW_STEP_FAILED",
        metadata: ["request_id": requestID, "step": step, "attempts": String(attempts), "error": String(text.prefix(500))])
    }
  }
}
