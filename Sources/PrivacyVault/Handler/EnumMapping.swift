import PrivacyProtocol

// Proto <-> domain enums of privacy.vault.v1. Proto -> domain returns nil for UNSPECIFIED and
// unknown numbers; every switch is exhaustive so a new case cannot be forgotten.

extension Classification {
  init?(_ proto: Privacy_Vault_V1_Classification) {
    switch proto {
    case .none: self = .none
    case .personal: self = .personal
    case .sensitive: self = .sensitive
    case .unspecified, .UNRECOGNIZED: return nil
    }
  }

  var proto: Privacy_Vault_V1_Classification {
    switch self {
    case .none: .none
    case .personal: .personal
    case .sensitive: .sensitive
    }
  }
}

extension SpecialCategory {
  init?(_ proto: Privacy_Vault_V1_SpecialCategory) {
    switch proto {
    case .health: self = .health
    case .racialOrEthnicOrigin: self = .racialOrEthnicOrigin
    case .politicalOpinion: self = .politicalOpinion
    case .religionOrBelief: self = .religionOrBelief
    case .tradeUnionMembership: self = .tradeUnionMembership
    case .genetic: self = .genetic
    case .biometric: self = .biometric
    case .sexLifeOrOrientation: self = .sexLifeOrOrientation
    case .unspecified, .UNRECOGNIZED: return nil
    }
  }

  var proto: Privacy_Vault_V1_SpecialCategory {
    switch self {
    case .health: .health
    case .racialOrEthnicOrigin: .racialOrEthnicOrigin
    case .politicalOpinion: .politicalOpinion
    case .religionOrBelief: .religionOrBelief
    case .tradeUnionMembership: .tradeUnionMembership
    case .genetic: .genetic
    case .biometric: .biometric
    case .sexLifeOrOrientation: .sexLifeOrOrientation
    }
  }
}

extension AccessKind {
  init?(_ proto: Privacy_Vault_V1_AccessKind) {
    switch proto {
    case .reveal: self = .reveal
    case .export: self = .export
    case .write: self = .write
    case .rectification: self = .rectification
    case .erasure: self = .erasure
    case .lock: self = .lock
    case .unlock: self = .unlock
    case .restrict: self = .restrict
    case .unrestrict: self = .unrestrict
    case .humanReviewSet: self = .humanReviewSet
    case .humanReviewCleared: self = .humanReviewCleared
    case .generalization: self = .generalization
    case .release: self = .release
    case .unspecified, .UNRECOGNIZED: return nil
    }
  }

  var proto: Privacy_Vault_V1_AccessKind {
    switch self {
    case .reveal: .reveal
    case .export: .export
    case .write: .write
    case .rectification: .rectification
    case .erasure: .erasure
    case .lock: .lock
    case .unlock: .unlock
    case .restrict: .restrict
    case .unrestrict: .unrestrict
    case .humanReviewSet: .humanReviewSet
    case .humanReviewCleared: .humanReviewCleared
    case .generalization: .generalization
    case .release: .release
    }
  }
}

extension KAnonymityOutcome {
  var proto: Privacy_Vault_V1_KAnonymityOutcome {
    switch self {
    case .noQuasiIdentifiers: .noQuasiIdentifiers
    case .satisfied: .satisfied
    case .generalized: .generalized
    }
  }
}

extension QuasiIdentifierAction {
  var proto: Privacy_Vault_V1_QuasiIdentifierAction {
    switch self {
    case .untouched: .untouched
    case .generalized: .generalized
    case .erased: .erased
    }
  }
}
