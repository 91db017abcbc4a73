/// Which opt-in statuses a campaign accepts.
public enum EligibilityPolicy: String, Sendable, CaseIterable {
  case doubleOnly = "double_only"
  case doubleOrUser = "double_or_user"
  case anyOptIn = "any_opt_in"

  public func accepts(_ status: OptInStatus) -> Bool {
    switch self {
    case .doubleOnly: status == .doubleOptIn
    case .doubleOrUser: status == .doubleOptIn || status == .singleOptInUser
    case .anyOptIn: status == .doubleOptIn || status == .singleOptInUser || status == .singleOptInWebform
    }
  }
}

/// The kind of email about to be sent.
public enum MessageKind: String, Sendable, CaseIterable {
  case campaign
  case autoresponder
  case workflow
  case adHoc = "ad_hoc"
  case reply
}

/// Why an email is or is not allowed.
public enum EligibilityReason: String, Sendable {
  case reply
  case notBlocked = "not_blocked"
  case optedIn = "opted_in"
  case optedOut = "opted_out"
  case restricted
  case erased
  case policyNotMet = "policy_not_met"
  case notSubscribed = "not_subscribed"
  case noMarketingConsent = "no_marketing_consent"
}

/// The consent an email needs beyond the opt-in status.
public enum MarketingConsent: Sendable, Equatable {
  /// The purpose the caller says the email is sent under: it must be allowed.
  case purpose(Purpose)
  /// No purpose named: the catalogue's CONSENT-basis EMAIL_MARKETING purposes. None of them may
  /// be denied or withdrawn, and one must be granted; none in the catalogue asks for nothing.
  case catalogue([Purpose])

  /// The catalogue's purposes that decide when the caller names none.
  public static func catalogue(of purposes: some Sequence<Purpose>) -> MarketingConsent {
    .catalogue(purposes.filter { $0.category == .emailMarketing && $0.legalBasis == .consent }.sorted { $0.id < $1.id })
  }

  /// Why the subject's decisions do not cover the email; nil when they do.
  func refusal(for subject: SubjectState?) -> String? {
    switch self {
    case .purpose(let purpose):
      let answer = ConsentRules.check(subject, purpose: purpose)
      return answer.allowed ? nil : "purpose \(purpose.id) is not allowed (\(answer.reason.rawValue))"
    case .catalogue(let purposes):
      guard !purposes.isEmpty else { return nil }
      let answers = purposes.map { ($0.id, ConsentRules.check(subject, purpose: $0)) }
      if let (id, answer) = answers.first(where: { $0.1.decision == .denied || $0.1.decision == .withdrawn }) {
        return "consent to email marketing purpose \(id) was \(answer.reason.rawValue)"
      }
      guard answers.contains(where: { $0.1.allowed }) else {
        return "no consent to email marketing (purposes \(purposes.map(\.id).joined(separator: ", ")))"
      }
      return nil
    }
  }
}

public struct EligibilityAnswer: Sendable, Equatable {
  public var allowed: Bool
  public var reason: EligibilityReason
  public var optInStatus: OptInStatus
  public var detail: String
}

/// The rules for sending email to a contact.
public enum EmailEligibility {
  /// `check` with the list and the marketing consent looked up in the catalogue: the named
  /// purpose, else the catalogue's email marketing purposes; an error for a list or purpose it
  /// lacks.
  public static func check(
    _ subject: SubjectState?, kind: MessageKind, policy: EligibilityPolicy?, listID: String?, purposeID: String?,
    purposes: [String: Purpose], lists: [String: MailingList]
  ) -> Result<EligibilityAnswer, ConsentError> {
    var list: MailingList?
    if let listID {
      guard let known = lists[listID] else { return .failure(.listNotFound(listID)) }
      list = known
    }
    let marketing: MarketingConsent
    if let purposeID {
      guard let purpose = purposes[purposeID] else { return .failure(.purposeNotFound(purposeID)) }
      marketing = .purpose(purpose)
    } else {
      marketing = .catalogue(of: purposes.values)
    }
    return .success(check(subject, kind: kind, policy: policy, list: list, marketing: marketing))
  }

  /// A REPLY to a conversation the contact started is always allowed. Every other kind is blocked
  /// by erasure, restriction, any opt-out, or consent to email marketing missing, denied or
  /// withdrawn (`marketing`). A CAMPAIGN also needs a status `policy` accepts and, when sent to
  /// `list`, a subscription to it (explicit or the list's default).
  public static func check(
    _ subject: SubjectState?, kind: MessageKind, policy: EligibilityPolicy?, list: MailingList?, marketing: MarketingConsent
  ) -> EligibilityAnswer {
    let status = subject?.optInStatus ?? .none
    func answer(_ allowed: Bool, _ reason: EligibilityReason, _ detail: String) -> EligibilityAnswer {
      EligibilityAnswer(allowed: allowed, reason: reason, optInStatus: status, detail: detail)
    }
    if kind == .reply { return answer(true, .reply, "a reply to the contact is always allowed") }
    if subject?.erased == true { return answer(false, .erased, "the contact was erased") }
    if subject?.restricted == true { return answer(false, .restricted, "processing of the contact is restricted") }
    if status.isOptOut { return answer(false, .optedOut, "the contact is opted out (\(status.rawValue))") }
    if let refusal = marketing.refusal(for: subject) { return answer(false, .noMarketingConsent, refusal) }
    guard kind == .campaign else { return answer(true, .notBlocked, "no opt-out or restriction blocks this message") }
    guard let policy, policy.accepts(status) else {
      return answer(false, .policyNotMet, "opt-in status \(status.rawValue) does not meet policy \(policy?.rawValue ?? "none")")
    }
    if let list {
      let subscribed = subject?.isSubscribed(to: list).subscribed ?? list.defaultSubscribed
      guard subscribed else { return answer(false, .notSubscribed, "the contact is not subscribed to list \(list.id)") }
    }
    return answer(true, .optedIn, "opt-in status \(status.rawValue) meets policy \(policy.rawValue)")
  }
}
