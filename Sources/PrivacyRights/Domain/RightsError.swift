public import Foundation
public import PrivacyKit

/// Everything the subject-rights rules refuse, with the status code and ErrorInfo reason a client
/// sees. Messages carry ids and statuses, never personal data.
public enum RightsError: PrivacyError, Equatable {
  case requestNotFound(String)
  case recipientNotFound(String)
  case outboxMessageNotFound(String)
  case artifactNotFound(requestID: String)
  case artifactPurged(requestID: String, at: Date)
  case artifactTooLarge(size: Int)
  case illegalTransition(status: RequestStatus, action: String)
  case requestClosed(status: RequestStatus)
  case verificationNotStarted
  case alreadyVerified(status: RequestStatus)
  case noRequesterEmail
  case tokenMismatch(attemptsLeft: Int)
  case tokenExpired
  case tokenAlreadyUsed
  case tokenSuperseded
  case verificationLocked
  case subjectNotIdentified
  case subjectAlreadySet
  case extensionLimit(monthsLeft: Int)
  case deadlinePassed(dueAt: Date)
  case stepFinished(step: String, status: StepStatus)
  case stepsUnfinished(step: String, status: StepStatus)
  case artifactRequired(Right)
  /// The one-time download link of an artifact: not its token, already used, or expired.
  case downloadTokenMismatch
  case downloadUsed(at: Date)
  case downloadExpired

  public static let errorDomain = "privacy.rights.v1"

  public var statusCode: StatusCode {
    switch self {
    case .requestNotFound, .recipientNotFound, .outboxMessageNotFound, .artifactNotFound, .artifactPurged: .notFound
    case .artifactTooLarge: .resourceExhausted
    default: .failedPrecondition
    }
  }

  public var message: String {
    switch self {
    case .requestNotFound(let id): "request \(id.clipped) not found"
    case .recipientNotFound(let id): "recipient \(id.clipped) not found"
    case .outboxMessageNotFound(let id): "outbox message \(id.clipped) not found"
    case .artifactNotFound(let id): "request \(id.clipped) has no artifact"
    case .artifactPurged(let id, let at): "the artifact of request \(id.clipped) was purged at \(at.ISO8601Format())"
    case .artifactTooLarge(let size):
      "artifact.content of \(size) bytes exceeds the limit of \(ArtifactInfo.maximumBytes) bytes (3 MiB)"
    case .illegalTransition(let status, let action): "cannot \(action) a request in status \(status.protoName)"
    case .requestClosed(let status): "the request is closed (\(status.protoName)); nothing changes it any more"
    case .verificationNotStarted: "verification was not started: call StartVerification first"
    case .alreadyVerified(let status): "the requester's identity is already verified (\(status.protoName))"
    case .noRequesterEmail: "the request has no requester email to send a verification token to"
    case .tokenMismatch(let left): "wrong verification token; \(left) attempt\(left == 1 ? "" : "s") left"
    case .tokenExpired: "the verification token has expired; start verification again"
    case .tokenAlreadyUsed: "the verification token was already used"
    case .tokenSuperseded: "the verification token was replaced by a newer one"
    case .verificationLocked: "verification is locked after too many wrong tokens; verify manually or reject the request"
    case .subjectNotIdentified: "the request has no subject yet: call IdentifySubject first"
    case .subjectAlreadySet: "the request's subject is already set"
    case .extensionLimit(let left):
      "the deadline may be extended by at most \(Deadline.maximumExtensionMonths) months in total; \(left) month\(left == 1 ? "" : "s") left"
    case .deadlinePassed(let due): "the deadline (\(due.ISO8601Format())) has passed; it can no longer be extended"
    case .stepFinished(let step, let status): "step \(step.clipped) is already \(status.protoName)"
    case .stepsUnfinished(let step, let status): "step \(step.clipped) is \(status.protoName); every step must be DONE or SKIPPED"
    case .artifactRequired(let right): "a \(right.protoName) request must be completed with an artifact"
    case .downloadTokenMismatch: "not the download token of this request's artifact"
    case .downloadUsed(let at): "the download link was already used, at \(at.ISO8601Format())"
    case .downloadExpired: "the download link has expired"
    }
  }

  public var reason: String? {
    switch self {
    case .requestNotFound, .recipientNotFound, .outboxMessageNotFound, .artifactTooLarge: nil
    case .artifactNotFound: "ARTIFACT_NOT_FOUND"
    case .artifactPurged: "ARTIFACT_PURGED"
    case .illegalTransition: "ILLEGAL_TRANSITION"
    case .requestClosed: "REQUEST_CLOSED"
    case .verificationNotStarted: "VERIFICATION_NOT_STARTED"
    case .alreadyVerified: "ALREADY_VERIFIED"
    case .noRequesterEmail: "NO_REQUESTER_EMAIL"
    case .tokenMismatch, .downloadTokenMismatch: "TOKEN_MISMATCH"
    case .tokenExpired, .downloadExpired: "TOKEN_EXPIRED"
    case .tokenAlreadyUsed, .downloadUsed: "TOKEN_ALREADY_USED"
    case .tokenSuperseded: "TOKEN_SUPERSEDED"
    case .verificationLocked: "VERIFICATION_LOCKED"
    case .subjectNotIdentified: "SUBJECT_NOT_IDENTIFIED"
    case .subjectAlreadySet: "SUBJECT_ALREADY_SET"
    case .extensionLimit: "EXTENSION_LIMIT"
    case .deadlinePassed: "DEADLINE_PASSED"
    case .stepFinished: "STEP_FINISHED"
    case .stepsUnfinished: "STEPS_UNFINISHED"
    case .artifactRequired: "ARTIFACT_REQUIRED"
    }
  }

  public var reasonMetadata: [String: String] {
    switch self {
    case .illegalTransition(let status, _), .requestClosed(let status), .alreadyVerified(let status): ["status": status.protoName]
    case .tokenMismatch(let left): ["attempts_left": String(left)]
    case .extensionLimit(let left): ["months_left": String(left)]
    case .deadlinePassed(let due): ["due_at": due.ISO8601Format()]
    case .stepFinished(let step, let status), .stepsUnfinished(let step, let status): ["step": step, "status": status.protoName]
    case .artifactPurged(_, let at): ["purged_at": at.ISO8601Format()]
    case .downloadUsed(let at): ["downloaded_at": at.ISO8601Format()]
    default: [:]
    }
  }
}

extension RequestStatus {
  /// The proto enum value's name, as clients see it (`REQUEST_STATUS_IN_PROGRESS`).
  public var protoName: String { "REQUEST_STATUS_" + rawValue.uppercased() }
}

extension StepStatus {
  public var protoName: String { "STEP_STATUS_" + rawValue.uppercased() }
}

extension Right {
  public var protoName: String { "RIGHT_" + rawValue.uppercased() }
}
