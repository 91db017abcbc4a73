public import PrivacyKit

/// Everything the consent rules refuse, with the status code and ErrorInfo reason a client sees.
public enum ConsentError: PrivacyError, Equatable {
  case purposeNotFound(String)
  case listNotFound(String)
  case subjectNotFound(String)
  case unknownNoticeVersion(purposeID: String, version: String)
  case noticeVersionImmutable(purposeID: String, version: String)
  case guardianRequired(subjectID: String, purposeID: String)
  case subjectErased(String)
  case subjectRestricted(String)
  case illegalOptInTransition(from: OptInStatus, to: OptInStatus, why: String)
  case tokenNotFound
  case tokenAlreadyUsed
  case tokenExpired
  case tokenSuperseded
  case outboxMessageNotFound(String)
  /// A preference link that does not open a page: unknown, expired, revoked or erased, told apart
  /// to no one.
  case preferenceLinkInvalid
  case eventNotFound(subjectID: String, sequence: UInt64)
  /// No `RECEIPT_SIGNING_KEY_FILE`: receipts cannot be signed or checked.
  case receiptsNotConfigured
  /// A change-feed follower resumes after an event this ledger does not hold as it does.
  case ledgerDiverged(sequence: UInt64)

  public static let errorDomain = "privacy.consent.v1"

  public var statusCode: StatusCode {
    switch self {
    case .purposeNotFound, .listNotFound, .subjectNotFound, .tokenNotFound, .outboxMessageNotFound, .preferenceLinkInvalid, .eventNotFound: .notFound
    case .unknownNoticeVersion, .noticeVersionImmutable, .guardianRequired, .subjectErased, .subjectRestricted,
      .illegalOptInTransition, .tokenAlreadyUsed, .tokenExpired, .tokenSuperseded, .receiptsNotConfigured, .ledgerDiverged:
      .failedPrecondition
    }
  }

  public var message: String {
    switch self {
    case .purposeNotFound(let id): "purpose \(id.clipped) not found"
    case .listNotFound(let id): "mailing list \(id.clipped) not found"
    case .subjectNotFound(let id): "subject \(id.clipped) has no consent events"
    case .unknownNoticeVersion(let purpose, let version): "purpose \(purpose.clipped) has no notice version \(version.clipped)"
    case .noticeVersionImmutable(let purpose, let version):
      "notice version \(version.clipped) of purpose \(purpose.clipped) is already published with another text; publish a new version"
    case .guardianRequired(let subject, let purpose):
      "subject \(subject.clipped) is a child: consent to purpose \(purpose.clipped) must be given by a guardian, "
        + "confirmed by the link sent to the guardian's address (RequestPreferenceChange with a GUARDIAN actor; GDPR art 8)"
    case .subjectErased(let id): "subject \(id.clipped) was erased"
    case .subjectRestricted(let id): "processing of subject \(id.clipped) is restricted"
    case .illegalOptInTransition(let from, let to, let why): "cannot change opt-in status from \(from.rawValue) to \(to.rawValue): \(why)"
    case .tokenNotFound: "unknown confirmation token"
    case .tokenAlreadyUsed: "confirmation token was already used"
    case .tokenExpired: "confirmation token has expired"
    case .tokenSuperseded: "confirmation token was replaced by a newer one"
    case .outboxMessageNotFound(let id): "outbox message \(id.clipped) not found"
    case .preferenceLinkInvalid: "this preference link does not open a page"
    case .eventNotFound(let subject, let sequence): "subject \(subject.clipped) has no ledger event \(sequence)"
    case .receiptsNotConfigured: "consent receipts are not configured (RECEIPT_SIGNING_KEY_FILE)"
    case .ledgerDiverged(let sequence):
      "the ledger's event \(sequence) is not the one after_hash names: the caller's copy is not of this ledger; replay it from the start"
    }
  }

  public var reason: String? {
    switch self {
    case .unknownNoticeVersion: "UNKNOWN_NOTICE_VERSION"
    case .noticeVersionImmutable: "NOTICE_VERSION_IMMUTABLE"
    case .guardianRequired: "GUARDIAN_REQUIRED"
    case .subjectErased: "SUBJECT_ERASED"
    case .subjectRestricted: "SUBJECT_RESTRICTED"
    case .illegalOptInTransition: "ILLEGAL_OPT_IN_TRANSITION"
    case .tokenAlreadyUsed: "TOKEN_ALREADY_USED"
    case .tokenExpired: "TOKEN_EXPIRED"
    case .tokenSuperseded: "TOKEN_SUPERSEDED"
    case .preferenceLinkInvalid: "PREFERENCE_LINK_INVALID"
    case .receiptsNotConfigured: "RECEIPTS_NOT_CONFIGURED"
    case .ledgerDiverged: "LEDGER_DIVERGED"
    case .purposeNotFound, .listNotFound, .subjectNotFound, .tokenNotFound, .outboxMessageNotFound, .eventNotFound: nil
    }
  }
}
