import Foundation
import GRPCCore
import PrivacyKit
import PrivacyProtocol

/// StopProcessing and ResumeProcessing (art 18).
///
/// Stopping opens a RESTRICTION request on the controller's initiative, verifies it (the
/// controller needs no identity check) and executes it like any RESTRICTION request. Lifting is a
/// separate call: it clears both restrictions and answers with the steps it ran. The imposing
/// request is already COMPLETED, and the rights service refuses steps on a closed request, so the
/// lifting is recorded in the gateway's audit log (method, subject, reason, outcome) rather than
/// as steps of that request.
struct ProcessingRestriction {
  let context: WorkflowContext

  func stop(_ message: Privacy_Gateway_V1_StopProcessingRequest) async throws -> Privacy_Gateway_V1_StopProcessingResponse {
    let (subjectID, reason) = try Self.validate(message.subjectID, message.reason)
    let current = try await currentRestriction(subjectID)
    let requests = try await restrictionRequests(subjectID)
    if current.fullyRestricted, let imposing = requests.last(where: { $0.status == .completed }) {
      return .with {
        $0.restrictionRequestID = imposing.requestID
        $0.alreadyRestricted = true
        $0.steps = imposing.steps
      }
    }
    // A run that stopped half-way (crash, backend down) is resumed rather than opened again.
    var request = requests.last { [.received, .verifying, .verified, .inProgress].contains($0.status) }
    if request == nil {
      request = try await context.send(RightsMethod.OpenRequest.self, .with {
        $0.subjectID = subjectID
        $0.right = .restriction
        $0.origin = .controller
        $0.channel = .manual
        $0.details = .with { $0.note = reason }
      }).request
    }
    guard var request else { throw RPCError(code: .internalError, message: "no restriction request") }
    if [.received, .verifying].contains(request.status) {
      request = try await context.send(RightsMethod.VerifyManually.self, .with {
        $0.requestID = request.requestID
        $0.note = "restriction of processing initiated by the controller (\(context.actor))"
      }).request
    }
    let executed = try await RequestExecution(context: context).execute(requestID: request.requestID).message
    return .with {
      $0.restrictionRequestID = executed.requestID
      $0.steps = executed.steps
    }
  }

  func resume(_ message: Privacy_Gateway_V1_ResumeProcessingRequest) async throws -> Privacy_Gateway_V1_ResumeProcessingResponse {
    let (subjectID, reason) = try Self.validate(message.subjectID, message.reason)
    let current = try await currentRestriction(subjectID)
    guard current.vault || current.consent else { return .with { $0.wasRestricted = false } }
    var steps = StepList()
    if current.vault {
      _ = try await context.send(VaultMethod.SetRestriction.self, .with {
        $0.subjectID = subjectID
        $0.restricted = false
        $0.reason = reason
      })
      steps.done("vault_unrestrict", "")
    } else {
      steps.skipped("vault_unrestrict")
    }
    if current.consent {
      _ = try await context.send(ConsentMethod.SetProcessingRestriction.self, .with {
        $0.subjectID = subjectID
        $0.restricted = false
        $0.reason = reason
      })
      steps.done("consent_unrestrict", "")
    } else {
      steps.skipped("consent_unrestrict")
    }
    let imposing = try await restrictionRequests(subjectID).last { $0.status == .completed }
    return .with {
      $0.restrictionRequestID = imposing?.requestID ?? ""
      $0.wasRestricted = true
      $0.steps = steps.steps
    }
  }

  private struct Restriction {
    var vault: Bool
    var consent: Bool
    var hasRecord: Bool
    var fullyRestricted: Bool { (vault || !hasRecord) && consent }
  }

  /// Where the subject is restricted now; NOT_FOUND when neither the vault nor the consent
  /// service knows the subject.
  private func currentRestriction(_ subjectID: String) async throws -> Restriction {
    let record = try await context.sendIfFound(VaultMethod.GetRecord.self, .with { $0.subjectID = subjectID })?.record
    let state = try await context.consentState(subjectID: subjectID)
    guard record != nil || state != nil else { throw RPCNotFound(message: "unknown subject \(subjectID.clipped)") }
    return Restriction(vault: record?.restricted ?? false, consent: state?.restricted ?? false, hasRecord: record != nil)
  }

  /// The subject's RESTRICTION requests, oldest first.
  private func restrictionRequests(_ subjectID: String) async throws -> [Privacy_Rights_V1_DataSubjectRequest] {
    try await context.requests(.with {
      $0.subjectID = subjectID
      $0.right = .restriction
    }).sorted { $0.receivedAt.date < $1.receivedAt.date }
  }

  private static func validate(_ subjectID: String, _ reason: String) throws -> (String, String) {
    guard !subjectID.isEmpty else { throw InvalidArgument("subject_id is required") }
    return (try Validate.subjectID(subjectID), try Validate.reason(reason))
  }
}
