import PrivacyProtocol

/// What the page offers for one purpose, by the lawful basis in force: consent is the subject's
/// to give and withdraw; legitimate interests and public task are not, but may be objected to
/// (art 21); contract, legal obligation and vital interests are neither.
enum PurposeChoice: Equatable {
  /// A box "I agree", ticked while consent is given.
  case consent(given: Bool)
  /// A box "I object", offered until the subject objects (an objection is recorded as DENIED and
  /// is not taken back from the page).
  case objection(objected: Bool)
  /// Nothing to choose; the basis is explained.
  case none

  /// `gpc`: the request carries Global Privacy Control (`Sec-GPC: 1`), an objection by automated
  /// means (art 21(5)) to tracking and third-party sharing. Those are shown as objected to (consent
  /// not given, objection made) whatever was decided before: the signal is the subject's choice,
  /// sent now. Saving records it.
  init(purpose: Privacy_Consent_V1_Purpose, state: Privacy_Consent_V1_PurposeState?, gpc: Bool) {
    let basis = state.map { $0.legalBasis == .unspecified ? purpose.legalBasis : $0.legalBasis } ?? purpose.legalBasis
    let decision = state?.decision ?? .unspecified
    let signalled = gpc && Self.gpcCategories.contains(purpose.category)
    switch basis {
    case .consent:
      self = .consent(given: decision == .granted && !signalled)
    case .legitimateInterests, .publicTask:
      self = .objection(objected: decision == .denied || signalled)
    default:
      self = .none
    }
  }

  /// The purposes Global Privacy Control objects to.
  static let gpcCategories: Set<Privacy_Consent_V1_PurposeCategory> = [.engagementTracking, .thirdPartySharing]
}
