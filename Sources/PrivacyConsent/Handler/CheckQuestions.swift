import PrivacyKit
import PrivacyProtocol

/// A CheckConsent request, validated: what the service and a follower of its ledger both answer.
struct ConsentQuestion {
  let subjectID: String
  let purposeID: String

  init(_ message: Privacy_Consent_V1_CheckConsentRequest) throws(InvalidArgument) {
    subjectID = try Validate.subjectID(message.subjectID)
    purposeID = try Validate.slug(message.purposeID, field: "purpose_id")
  }
}

/// A CheckConsentBatch request, validated.
struct ConsentBatchQuestion {
  /// Most pairs one call may ask.
  static let maximumChecks = 1000

  let pairs: [(subjectID: String, purposeID: String)]

  init(_ message: Privacy_Consent_V1_CheckConsentBatchRequest) throws(InvalidArgument) {
    pairs = try Validate.batch(message.checks, field: "checks", maximum: Self.maximumChecks) { check throws(InvalidArgument) in
      (subjectID: try Validate.subjectID(check.subjectID), purposeID: try Validate.slug(check.purposeID, field: "purpose_id"))
    }
  }

  /// The answers, in order, from the subjects' states and the purposes.
  func answers(subjects: [String: PackedSubjectState], purposes: [String: Purpose]) -> Result<[ConsentAnswer], ConsentError> {
    ConsentRules.check(pairs, subjects: subjects, purposes: purposes)
  }
}

/// A CheckEmailEligibility request, validated.
struct EligibilityQuestion {
  let subjectID: String
  let kind: MessageKind
  let policy: EligibilityPolicy?
  let listID: String?
  let purposeID: String?

  init(_ message: Privacy_Consent_V1_CheckEmailEligibilityRequest) throws(InvalidArgument) {
    subjectID = try Validate.subjectID(message.subjectID)
    kind = try Validate.requiredEnum(message.messageKind, field: "message_kind", MessageKind.init)
    try Validate.knownEnum(message.policy, field: "policy")
    policy = EligibilityPolicy(message.policy)
    if kind == .campaign && policy == nil { throw InvalidArgument("policy is required for CAMPAIGN messages") }
    listID = message.listID.isEmpty ? nil : try Validate.slug(message.listID, field: "list_id")
    purposeID = message.purposeID.isEmpty ? nil : try Validate.slug(message.purposeID, field: "purpose_id")
  }

  /// The answer from a subject's state and the catalogue.
  func answer(
    subject: SubjectState?, purposes: [String: Purpose], lists: [String: MailingList]
  ) -> Result<EligibilityAnswer, ConsentError> {
    EmailEligibility.check(
      subject, kind: kind, policy: policy, listID: listID, purposeID: purposeID, purposes: purposes, lists: lists)
  }
}

extension EligibilityAnswer {
  var proto: Privacy_Consent_V1_CheckEmailEligibilityResponse {
    .with {
      $0.allowed = allowed
      $0.reason = reason.proto
      $0.optInStatus = optInStatus.proto
      $0.detail = detail
    }
  }
}
