import PrivacyProtocol

// Proto <-> domain enums of privacy.consent.v1. Proto -> domain returns nil for UNSPECIFIED and
// unknown numbers; every switch is exhaustive so a new case cannot be forgotten.

extension LegalBasis {
  init?(_ proto: Privacy_Consent_V1_LegalBasis) {
    switch proto {
    case .consent: self = .consent
    case .contract: self = .contract
    case .legalObligation: self = .legalObligation
    case .vitalInterests: self = .vitalInterests
    case .publicTask: self = .publicTask
    case .legitimateInterests: self = .legitimateInterests
    case .unspecified, .UNRECOGNIZED: return nil
    }
  }

  var proto: Privacy_Consent_V1_LegalBasis {
    switch self {
    case .consent: .consent
    case .contract: .contract
    case .legalObligation: .legalObligation
    case .vitalInterests: .vitalInterests
    case .publicTask: .publicTask
    case .legitimateInterests: .legitimateInterests
    }
  }
}

extension PurposeCategory {
  init?(_ proto: Privacy_Consent_V1_PurposeCategory) {
    switch proto {
    case .dataStorage: self = .dataStorage
    case .emailMarketing: self = .emailMarketing
    case .engagementTracking: self = .engagementTracking
    case .thirdPartySharing: self = .thirdPartySharing
    case .automatedDecisions: self = .automatedDecisions
    case .custom: self = .custom
    case .unspecified, .UNRECOGNIZED: return nil
    }
  }

  var proto: Privacy_Consent_V1_PurposeCategory {
    switch self {
    case .dataStorage: .dataStorage
    case .emailMarketing: .emailMarketing
    case .engagementTracking: .engagementTracking
    case .thirdPartySharing: .thirdPartySharing
    case .automatedDecisions: .automatedDecisions
    case .custom: .custom
    }
  }
}

extension Decision {
  init?(_ proto: Privacy_Consent_V1_Decision) {
    switch proto {
    case .granted: self = .granted
    case .denied: self = .denied
    case .withdrawn: self = .withdrawn
    case .unspecified, .UNRECOGNIZED: return nil
    }
  }

  var proto: Privacy_Consent_V1_Decision {
    switch self {
    case .granted: .granted
    case .denied: .denied
    case .withdrawn: .withdrawn
    }
  }
}

extension SubjectAge {
  init(_ proto: Privacy_Consent_V1_SubjectAge) {
    switch proto {
    case .child: self = .child
    case .adult: self = .adult
    case .unspecified, .UNRECOGNIZED: self = .unspecified
    }
  }

  var proto: Privacy_Consent_V1_SubjectAge {
    switch self {
    case .unspecified: .unspecified
    case .child: .child
    case .adult: .adult
    }
  }
}

extension OptInStatus {
  init?(_ proto: Privacy_Consent_V1_OptInStatus) {
    switch proto {
    case .none: self = .none
    case .singleOptInUser: self = .singleOptInUser
    case .singleOptInWebform: self = .singleOptInWebform
    case .doubleOptIn: self = .doubleOptIn
    case .optOutUser: self = .optOutUser
    case .optOutContact: self = .optOutContact
    case .unspecified, .UNRECOGNIZED: return nil
    }
  }

  var proto: Privacy_Consent_V1_OptInStatus {
    switch self {
    case .none: .none
    case .singleOptInUser: .singleOptInUser
    case .singleOptInWebform: .singleOptInWebform
    case .doubleOptIn: .doubleOptIn
    case .optOutUser: .optOutUser
    case .optOutContact: .optOutContact
    }
  }
}

extension OptInSetter {
  init?(_ proto: Privacy_Consent_V1_OptInSetter) {
    switch proto {
    case .user: self = .user
    case .contact: self = .contact
    case .webform: self = .webform
    case .unspecified, .UNRECOGNIZED: return nil
    }
  }
}

extension EventKind {
  init?(_ proto: Privacy_Consent_V1_EventKind) {
    switch proto {
    case .consentDecision: self = .consentDecision
    case .optInStatusChanged: self = .optInStatusChanged
    case .doubleOptInStarted: self = .doubleOptInStarted
    case .subscribed: self = .subscribed
    case .unsubscribed: self = .unsubscribed
    case .restrictionChanged: self = .restrictionChanged
    case .subjectErased: self = .subjectErased
    case .doubleOptInExpired: self = .doubleOptInExpired
    case .unspecified, .UNRECOGNIZED: return nil
    }
  }

  var proto: Privacy_Consent_V1_EventKind {
    switch self {
    case .consentDecision: .consentDecision
    case .optInStatusChanged: .optInStatusChanged
    case .doubleOptInStarted: .doubleOptInStarted
    case .subscribed: .subscribed
    case .unsubscribed: .unsubscribed
    case .restrictionChanged: .restrictionChanged
    case .subjectErased: .subjectErased
    case .doubleOptInExpired: .doubleOptInExpired
    }
  }
}

extension ConsentReason {
  var proto: Privacy_Consent_V1_ConsentReason {
    switch self {
    case .granted: .granted
    case .noDecision: .noDecision
    case .denied: .denied
    case .withdrawn: .withdrawn
    case .basisApplies: .basisApplies
    case .objected: .objected
    case .restricted: .restricted
    case .erased: .erased
    }
  }
}

extension EligibilityPolicy {
  init?(_ proto: Privacy_Consent_V1_EligibilityPolicy) {
    switch proto {
    case .doubleOnly: self = .doubleOnly
    case .doubleOrUser: self = .doubleOrUser
    case .anyOptIn: self = .anyOptIn
    case .unspecified, .UNRECOGNIZED: return nil
    }
  }
}

extension MessageKind {
  init?(_ proto: Privacy_Consent_V1_MessageKind) {
    switch proto {
    case .campaign: self = .campaign
    case .autoresponder: self = .autoresponder
    case .workflow: self = .workflow
    case .adHoc: self = .adHoc
    case .reply: self = .reply
    case .unspecified, .UNRECOGNIZED: return nil
    }
  }
}

extension EligibilityReason {
  var proto: Privacy_Consent_V1_EligibilityReason {
    switch self {
    case .reply: .reply
    case .notBlocked: .notBlocked
    case .optedIn: .optedIn
    case .optedOut: .optedOut
    case .restricted: .restricted
    case .erased: .erased
    case .policyNotMet: .policyNotMet
    case .notSubscribed: .notSubscribed
    case .noMarketingConsent: .noMarketingConsent
    }
  }
}

extension ConfirmationKind {
  var proto: Privacy_Consent_V1_OutboxKind {
    switch self {
    case .doubleOptIn: .doubleOptIn
    case .preferenceChange: .preferenceConfirmation
    }
  }
}
