import PrivacyKit

/// Why a purpose is or is not allowed for a subject.
public enum ConsentReason: String, Sendable {
  case granted
  case noDecision = "no_decision"
  case denied
  case withdrawn
  case basisApplies = "basis_applies"
  case objected
  case restricted
  case erased
}

/// The answer to "may this purpose be applied to this subject now?".
public struct ConsentAnswer: Sendable, Equatable {
  public var allowed: Bool
  public var legalBasis: LegalBasis
  public var reason: ConsentReason
  public var eventSequence: UInt64
  public var decision: Decision?
  public var detail: String
}

/// The rules of consent and lawful basis.
public enum ConsentRules {
  /// CONSENT-basis purposes are allowed only while the latest decision is GRANTED. Other bases
  /// are allowed unless the subject objected (latest decision DENIED or WITHDRAWN). Erasure and
  /// restriction (art 18) block every purpose. The basis is the one the latest decision recorded,
  /// else the purpose's own.
  public static func check(_ subject: SubjectState?, purpose: Purpose) -> ConsentAnswer {
    check(subject?.facts(for: purpose.id), purpose: purpose)
  }

  /// The same rules on what a packed state gives for the purpose (the hot path reads no more).
  public static func check(_ subject: SubjectFacts?, purpose: Purpose) -> ConsentAnswer {
    let record = subject?.record
    let basis = record?.legalBasis ?? purpose.legalBasis
    func answer(_ allowed: Bool, _ reason: ConsentReason, _ detail: String) -> ConsentAnswer {
      ConsentAnswer(
        allowed: allowed, legalBasis: basis, reason: reason, eventSequence: record?.sequence ?? 0,
        decision: record?.decision, detail: detail
      )
    }
    if let subject, subject.erased {
      return ConsentAnswer(
        allowed: false, legalBasis: basis, reason: .erased, eventSequence: subject.lastSequence,
        decision: record?.decision, detail: "the subject was erased"
      )
    }
    if let subject, subject.restricted {
      return ConsentAnswer(
        allowed: false, legalBasis: basis, reason: .restricted, eventSequence: subject.lastSequence,
        decision: record?.decision, detail: "processing is restricted (art 18)"
      )
    }
    guard basis == .consent else {
      switch record?.decision {
      case .denied?, .withdrawn?:
        return answer(false, .objected, "the subject objected to processing on basis \(basis.rawValue)")
      case .granted?, nil:
        return answer(true, .basisApplies, "lawful basis \(basis.rawValue) applies")
      }
    }
    switch record?.decision {
    case .granted?: return answer(true, .granted, "consent granted")
    case .denied?: return answer(false, .denied, "consent denied")
    case .withdrawn?: return answer(false, .withdrawn, "consent withdrawn")
    case nil: return answer(false, .noDecision, "no consent recorded")
    }
  }

  /// The answers for many subject × purpose pairs, in order, from the subjects' packed states and
  /// the purposes; an error for the first purpose not among them.
  public static func check(
    _ pairs: [(subjectID: String, purposeID: String)], subjects: [String: PackedSubjectState], purposes: [String: Purpose]
  ) -> Result<[ConsentAnswer], ConsentError> {
    var answers: [ConsentAnswer] = []
    answers.reserveCapacity(pairs.count)
    // A batch mostly asks about one purpose: it is looked up (and copied) once per run of it.
    var current: Purpose?
    for (subjectID, purposeID) in pairs {
      if current?.id != purposeID {
        guard let purpose = purposes[purposeID] else { return .failure(.purposeNotFound(purposeID)) }
        current = purpose
      }
      answers.append(check(subjects[subjectID]?.facts(for: purposeID), purpose: current!))
    }
    return .success(answers)
  }

  /// Refuses a decision the ledger must not record: any write for an erased subject, and a
  /// child's grant of a CONSENT-basis purpose that is not a guardian's confirmed by the link sent
  /// to the guardian's address (art 8: evidence from a confirmation link, actor kind GUARDIAN).
  /// The child status is the evidence's, else the one remembered for the subject.
  public static func checkDecision(
    _ decision: Decision, basis: LegalBasis, evidence: Evidence, subject: SubjectState?, subjectID: String, purposeID: String
  ) throws(ConsentError) {
    if subject?.erased == true { throw .subjectErased(subjectID) }
    let age = evidence.subjectAge != .unspecified ? evidence.subjectAge : (subject?.age ?? .unspecified)
    if decision == .granted && basis == .consent && age == .child && !(evidence.actorKind == .guardian && evidence.channel == .emailLink) {
      throw .guardianRequired(subjectID: subjectID, purposeID: purposeID)
    }
  }
}
