public import Foundation
public import PrivacyKit

/// What a rule decides to record; the ledger gives it a sequence, a time and a hash.
public struct EventDraft: Sendable, Equatable {
  public var subjectID: String
  public var kind: EventKind
  public var purposeID = ""
  public var decision: Decision?
  public var legalBasis: LegalBasis?
  public var optInStatus: OptInStatus?
  public var listID = ""
  public var restricted = false
  public var reason = ""
  public var evidence: Evidence
  public var preferenceChangeID = ""

  public init(subjectID: String, kind: EventKind, evidence: Evidence) {
    self.subjectID = subjectID
    self.kind = kind
    self.evidence = evidence
  }
}

/// One entry of the append-only consent ledger.
///
/// The hash covers every field except the evidence's personal data (IP address, user agent,
/// email address); those enter through `personalDataDigest`, a SHA-256 over a random salt and the
/// values. Erasure deletes the values and the salt but keeps the digest, so the chain still
/// verifies and the digest cannot be reversed by guessing (the salt is gone).
public struct LedgerEvent: Sendable, Equatable, ChainedEntry {
  public var sequence: UInt64
  public var subjectID: String
  public var kind: EventKind
  public var purposeID: String
  public var decision: Decision?
  /// The lawful basis in force for the subject and purpose after this event.
  public var legalBasis: LegalBasis?
  public var optInStatus: OptInStatus?
  public var listID: String
  public var restricted: Bool
  public var reason: String
  public var evidence: Evidence
  public var recordedAt: Date
  public var recordedBy: CallerIdentity
  public var preferenceChangeID: String
  /// Salt of the personal-data digest; nil when the event never had personal data or lost it to erasure.
  public var personalDataSalt: [UInt8]?
  /// Hex digest of the salted personal data; empty when the event never had any.
  public var personalDataDigest: String
  public var previousHash: String
  public var hash: String

  public init(
    sequence: UInt64, subjectID: String, kind: EventKind, purposeID: String, decision: Decision?, legalBasis: LegalBasis?,
    optInStatus: OptInStatus?, listID: String, restricted: Bool, reason: String, evidence: Evidence, recordedAt: Date,
    recordedBy: CallerIdentity, preferenceChangeID: String, personalDataSalt: [UInt8]?, personalDataDigest: String,
    previousHash: String, hash: String
  ) {
    self.sequence = sequence
    self.subjectID = subjectID
    self.kind = kind
    self.purposeID = purposeID
    self.decision = decision
    self.legalBasis = legalBasis
    self.optInStatus = optInStatus
    self.listID = listID
    self.restricted = restricted
    self.reason = reason
    self.evidence = evidence
    self.recordedAt = recordedAt
    self.recordedBy = recordedBy
    self.preferenceChangeID = preferenceChangeID
    self.personalDataSalt = personalDataSalt
    self.personalDataDigest = personalDataDigest
    self.previousHash = previousHash
    self.hash = hash
  }

  /// Seals a draft as the event after `previousHash`.
  init(draft: EventDraft, sequence: UInt64, previousHash: String, recordedAt: Date, recordedBy: CallerIdentity) {
    let salt: [UInt8]? = draft.evidence.hasPersonalData ? (0..<16).map { _ in UInt8.random(in: .min ... .max) } : nil
    self.init(
      sequence: sequence, subjectID: draft.subjectID, kind: draft.kind, purposeID: draft.purposeID,
      decision: draft.decision, legalBasis: draft.legalBasis, optInStatus: draft.optInStatus, listID: draft.listID,
      restricted: draft.restricted, reason: draft.reason, evidence: draft.evidence,
      recordedAt: recordedAt.microsecondPrecision, recordedBy: recordedBy, preferenceChangeID: draft.preferenceChangeID,
      personalDataSalt: salt, personalDataDigest: salt.map { Self.personalDataDigest(salt: $0, evidence: draft.evidence) } ?? "",
      previousHash: previousHash, hash: ""
    )
    self.hash = computedHash
  }

  static func personalDataDigest(salt: [UInt8], evidence: Evidence) -> String {
    var encoder = CanonicalEncoder()
    encoder.append(salt)
    encoder.append(evidence.ipAddress)
    encoder.append(evidence.userAgent)
    encoder.append(evidence.emailAddress)
    return encoder.sha256Hex
  }

  /// The hash this event's content and previous hash give.
  public var computedHash: String {
    var encoder = CanonicalEncoder()
    encoder.append(sequence)
    encoder.append(subjectID)
    encoder.append(kind.rawValue)
    encoder.append(purposeID)
    encoder.append(decision?.rawValue ?? "")
    encoder.append(legalBasis?.rawValue ?? "")
    encoder.append(optInStatus?.rawValue ?? "")
    encoder.append(listID)
    encoder.append(restricted)
    encoder.append(reason)
    encoder.append(evidence.channel.rawValue)
    encoder.append(evidence.formName)
    encoder.append(evidence.actor)
    encoder.append(evidence.actorKind.rawValue)
    encoder.append(evidence.noticeVersion)
    encoder.append(evidence.capturedAt)
    encoder.append(evidence.subjectAge.rawValue)
    encoder.append(recordedAt)
    encoder.append(recordedBy.actor)
    encoder.append(recordedBy.role)
    encoder.append(recordedBy.requestID)
    encoder.append(preferenceChangeID)
    encoder.append(personalDataDigest)
    return HashChain.link(previous: previousHash, content: encoder)
  }

  /// What is wrong with this event on its own (personal data against digest, content against
  /// hash), or nil when it is intact.
  public var integrityProblem: String? {
    if let salt = personalDataSalt {
      if Self.personalDataDigest(salt: salt, evidence: evidence) != personalDataDigest {
        return "personal evidence does not match its digest"
      }
    } else if evidence.hasPersonalData {
      return "personal evidence present without its salt"
    }
    if computedHash != hash { return "content does not match its hash" }
    return nil
  }
}
