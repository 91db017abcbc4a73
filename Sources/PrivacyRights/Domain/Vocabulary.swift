public import PrivacyKit

/// The data-subject rights of GDPR chapter III a request can invoke.
public enum Right: String, Sendable, CaseIterable, Codable {
  case access
  case rectification
  case erasure
  case restriction
  case notification
  case portability
  case objection
  case automatedDecision = "automated_decision"

  /// Whether completing a request for this right must deliver an export bundle.
  public var requiresArtifact: Bool { self == .access || self == .portability }

  /// How the right is named to a requester, in `language`.
  public func title(_ language: MailLanguage) -> String {
    switch (self, language) {
    case (.access, .en): "access to your personal data (Art. 15 GDPR)"
    case (.rectification, .en): "rectification of your personal data (Art. 16 GDPR)"
    case (.erasure, .en): "erasure of your personal data (Art. 17 GDPR)"
    case (.restriction, .en): "restriction of processing (Art. 18 GDPR)"
    case (.notification, .en): "notification of recipients (Art. 19 GDPR)"
    case (.portability, .en): "data portability (Art. 20 GDPR)"
    case (.objection, .en): "objection to processing (Art. 21 GDPR)"
    case (.automatedDecision, .en): "not to be subject to automated decision-making (Art. 22 GDPR)"
    case (.access, .it): "accesso ai tuoi dati personali (art. 15 GDPR)"
    case (.rectification, .it): "rettifica dei tuoi dati personali (art. 16 GDPR)"
    case (.erasure, .it): "cancellazione dei tuoi dati personali (art. 17 GDPR)"
    case (.restriction, .it): "limitazione del trattamento (art. 18 GDPR)"
    case (.notification, .it): "notifica ai destinatari (art. 19 GDPR)"
    case (.portability, .it): "portabilità dei dati (art. 20 GDPR)"
    case (.objection, .it): "opposizione al trattamento (art. 21 GDPR)"
    case (.automatedDecision, .it): "non essere sottoposto a decisioni automatizzate (art. 22 GDPR)"
    }
  }
}

/// Where a request is in its life.
public enum RequestStatus: String, Sendable, CaseIterable, Codable {
  case received
  case verifying
  case verified
  case inProgress = "in_progress"
  case completed
  case rejected

  /// COMPLETED and REJECTED are closed: nothing changes them any more.
  public var isClosed: Bool { self == .completed || self == .rejected }
  public var isOpen: Bool { !isClosed }

  public static let open: [RequestStatus] = [.received, .verifying, .verified, .inProgress]
}

/// Who initiated a request.
public enum RequestOrigin: String, Sendable, CaseIterable, Codable {
  case dataSubject = "data_subject"
  case controller
  case retention
}

/// The state of one workflow step.
public enum StepStatus: String, Sendable, CaseIterable, Codable {
  case pending
  case running
  case done
  case failed
  case skipped

  /// DONE and SKIPPED are final.
  public var isFinal: Bool { self == .done || self == .skipped }
}

/// How the requester's identity was established.
public enum VerificationMethod: String, Sendable, CaseIterable, Codable {
  case emailToken = "email_token"
  case manual
}

/// The grounds on which a request was rejected.
public enum RejectionGrounds: String, Sendable, CaseIterable, Codable {
  case manifestlyUnfounded = "manifestly_unfounded"
  case excessive
  case identityNotVerified = "identity_not_verified"
  case exemption
  case duplicate
  case withdrawn
}

/// What an outbox message says: to the requester, or to a recipient (art 19).
public enum OutboxKind: String, Sendable, CaseIterable, Codable {
  case verification
  case deadlineExtended = "deadline_extended"
  case rejected
  case completed
  case recipientNotice = "recipient_notice"
}
