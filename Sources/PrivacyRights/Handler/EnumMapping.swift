import PrivacyProtocol

// Proto <-> domain enums of privacy.rights.v1. Proto -> domain returns nil for UNSPECIFIED and
// unknown numbers; every switch is exhaustive so a new case cannot be forgotten.

extension Right {
  init?(_ proto: Privacy_Rights_V1_Right) {
    switch proto {
    case .access: self = .access
    case .rectification: self = .rectification
    case .erasure: self = .erasure
    case .restriction: self = .restriction
    case .notification: self = .notification
    case .portability: self = .portability
    case .objection: self = .objection
    case .automatedDecision: self = .automatedDecision
    case .unspecified, .UNRECOGNIZED: return nil
    }
  }

  var proto: Privacy_Rights_V1_Right {
    switch self {
    case .access: .access
    case .rectification: .rectification
    case .erasure: .erasure
    case .restriction: .restriction
    case .notification: .notification
    case .portability: .portability
    case .objection: .objection
    case .automatedDecision: .automatedDecision
    }
  }
}

extension RequestStatus {
  init?(_ proto: Privacy_Rights_V1_RequestStatus) {
    switch proto {
    case .received: self = .received
    case .verifying: self = .verifying
    case .verified: self = .verified
    case .inProgress: self = .inProgress
    case .completed: self = .completed
    case .rejected: self = .rejected
    case .unspecified, .UNRECOGNIZED: return nil
    }
  }

  var proto: Privacy_Rights_V1_RequestStatus {
    switch self {
    case .received: .received
    case .verifying: .verifying
    case .verified: .verified
    case .inProgress: .inProgress
    case .completed: .completed
    case .rejected: .rejected
    }
  }
}

extension RequestOrigin {
  init?(_ proto: Privacy_Rights_V1_RequestOrigin) {
    switch proto {
    case .dataSubject: self = .dataSubject
    case .controller: self = .controller
    case .retention: self = .retention
    case .unspecified, .UNRECOGNIZED: return nil
    }
  }

  var proto: Privacy_Rights_V1_RequestOrigin {
    switch self {
    case .dataSubject: .dataSubject
    case .controller: .controller
    case .retention: .retention
    }
  }
}

extension StepStatus {
  init?(_ proto: Privacy_Rights_V1_StepStatus) {
    switch proto {
    case .pending: self = .pending
    case .running: self = .running
    case .done: self = .done
    case .failed: self = .failed
    case .skipped: self = .skipped
    case .unspecified, .UNRECOGNIZED: return nil
    }
  }

  var proto: Privacy_Rights_V1_StepStatus {
    switch self {
    case .pending: .pending
    case .running: .running
    case .done: .done
    case .failed: .failed
    case .skipped: .skipped
    }
  }
}

extension VerificationMethod {
  var proto: Privacy_Rights_V1_VerificationMethod {
    switch self {
    case .emailToken: .emailToken
    case .manual: .manual
    }
  }
}

extension RejectionGrounds {
  init?(_ proto: Privacy_Rights_V1_RejectionGrounds) {
    switch proto {
    case .manifestlyUnfounded: self = .manifestlyUnfounded
    case .excessive: self = .excessive
    case .identityNotVerified: self = .identityNotVerified
    case .exemption: self = .exemption
    case .duplicate: self = .duplicate
    case .withdrawn: self = .withdrawn
    case .unspecified, .UNRECOGNIZED: return nil
    }
  }

  var proto: Privacy_Rights_V1_RejectionGrounds {
    switch self {
    case .manifestlyUnfounded: .manifestlyUnfounded
    case .excessive: .excessive
    case .identityNotVerified: .identityNotVerified
    case .exemption: .exemption
    case .duplicate: .duplicate
    case .withdrawn: .withdrawn
    }
  }
}

extension OutboxKind {
  var proto: Privacy_Rights_V1_OutboxKind {
    switch self {
    case .verification: .verification
    case .deadlineExtended: .deadlineExtended
    case .rejected: .rejected
    case .completed: .completed
    case .recipientNotice: .recipientNotice
    }
  }
}
