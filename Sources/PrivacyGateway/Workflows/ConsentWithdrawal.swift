import Foundation
import GRPCCore
import PrivacyKit
import PrivacyProtocol

/// WithdrawConsent: records the withdrawal, then applies its consequences by the purpose's
/// category. Idempotent: an already withdrawn consent records no second event, and the
/// consequences are applied again (each of them is idempotent itself).
struct ConsentWithdrawal {
  let context: WorkflowContext

  func withdraw(_ message: Privacy_Gateway_V1_WithdrawConsentRequest) async throws -> Privacy_Gateway_V1_WithdrawConsentResponse {
    guard !message.subjectID.isEmpty else { throw InvalidArgument("subject_id is required") }
    guard !message.purposeID.isEmpty else { throw InvalidArgument("purpose_id is required") }
    let subjectID = try Validate.subjectID(message.subjectID)
    let purposeID = try Validate.slug(message.purposeID, field: "purpose_id")
    let evidence = try Self.evidence(message)
    guard let purpose = try await context.purposes()[purposeID] else { throw RPCNotFound(message: "unknown purpose \(purposeID.clipped)") }
    guard purpose.legalBasis == .consent else {
      throw WorkflowError.notConsentBased(purpose: purposeID, basis: ProtoJSON.enumName(purpose, key: "legal_basis"))
    }
    guard let state = try await context.consentState(subjectID: subjectID) else { throw RPCNotFound(message: "unknown subject \(subjectID.clipped)") }

    var response = Privacy_Gateway_V1_WithdrawConsentResponse()
    response.category = purpose.category
    var steps = StepList()
    if let current = state.purposes.first(where: { $0.purposeID == purposeID }), current.decision == .withdrawn {
      response.alreadyWithdrawn = true
      response.eventSequence = current.eventSequence
      steps.skipped("consent_withdrawn")
    } else {
      response.eventSequence = try await context.send(ConsentMethod.RecordConsent.self, .with {
        $0.subjectID = subjectID
        $0.purposeID = purposeID
        $0.decision = .withdrawn
        $0.evidence = evidence
      }).event.sequence
      steps.done("consent_withdrawn", StepDetail.json(["event_sequence": Int(response.eventSequence)]))
    }

    switch purpose.category {
    case .dataStorage where !purpose.vaultFields.isEmpty:
      let erased = try await context.sendIfFound(VaultMethod.EraseFields.self, .with {
        $0.subjectID = subjectID
        $0.fields = purpose.vaultFields
        $0.lock = true
        $0.reason = "consent for purpose \(purposeID) withdrawn"
      })
      response.erasedLockedFields = erased?.lockedFields ?? []
      steps.done("vault_fields_erased_locked", StepDetail.json(["fields": response.erasedLockedFields, "record_found": erased != nil]))
    case .emailMarketing:
      let set = try await context.send(ConsentMethod.SetEmailOptInStatus.self, .with {
        $0.subjectID = subjectID
        $0.status = .optOutContact
        $0.setBy = .contact
        $0.evidence = evidence
      })
      response.optedOut = set.status == .optOutContact
      response.optInStatus = set.status
      steps.done("email_opted_out", StepDetail.json(["changed": set.hasEvent]))
    case .thirdPartySharing:
      response.recipientsToNotify = try await RecipientNotices.concerning(
        [purposeID], purposes: [purposeID: purpose],
        notice: "consent of subject \(subjectID) for purpose \(purposeID) withdrawn: stop processing", context: context)
      steps.done("recipients_listed", StepDetail.json(["recipients": response.recipientsToNotify.map(\.recipient.recipientID)]))
    default:
      break
    }
    response.steps = steps.steps
    return response
  }

  /// The evidence as given, with the defaults: an API call by the authenticated staff member, now.
  private static func evidence(_ message: Privacy_Gateway_V1_WithdrawConsentRequest) throws -> Privacy_Consent_V1_Evidence {
    var evidence = message.evidence
    if evidence.channel == .unspecified { evidence.channel = .api }
    if evidence.actorKind == .unspecified { evidence.actorKind = .staff }
    if !evidence.ipAddress.isEmpty { _ = try Validate.ipAddress(evidence.ipAddress, field: "evidence.ip_address") }
    if !evidence.hasCapturedAt { evidence.capturedAt = Date().protoTimestamp }
    evidence.emailAddress = ""
    evidence.personalDataErased = false
    return evidence
  }
}
