/// A subject's decision about a purpose.
public enum Decision: String, Sendable, CaseIterable, Codable {
  case granted
  case denied
  case withdrawn
}

/// What evidence says about a subject's age (GDPR art 8).
public enum SubjectAge: String, Sendable, CaseIterable {
  case unspecified
  case child
  case adult
}

/// Email opt-in status of a contact.
public enum OptInStatus: String, Sendable, CaseIterable {
  case none
  case singleOptInUser = "single_opt_in_user"
  case singleOptInWebform = "single_opt_in_webform"
  case doubleOptIn = "double_opt_in"
  case optOutUser = "opt_out_user"
  case optOutContact = "opt_out_contact"

  public var isOptOut: Bool { self == .optOutUser || self == .optOutContact }
}

/// Who sets an opt-in status.
public enum OptInSetter: String, Sendable, CaseIterable {
  case user
  case contact
  case webform
}

/// What a ledger event records.
public enum EventKind: String, Sendable, CaseIterable {
  case consentDecision = "consent_decision"
  case optInStatusChanged = "opt_in_status_changed"
  case doubleOptInStarted = "double_opt_in_started"
  case subscribed
  case unsubscribed
  case restrictionChanged = "restriction_changed"
  case subjectErased = "subject_erased"
  case doubleOptInExpired = "double_opt_in_expired"
}
