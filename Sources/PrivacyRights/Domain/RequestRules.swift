public import Foundation
import PrivacyKit

// The status machine of a request and the rules of each change. Pure: every function changes the
// request in memory or throws, and the caller commits the result. A function that throws leaves
// the request unchanged, except `confirmVerification`, whose outcome says what to keep.
//
//   RECEIVED --startVerification--> VERIFYING --confirmVerification--> VERIFIED
//   RECEIVED or VERIFYING --verifyManually--> VERIFIED
//   VERIFIED --startProcessing--> IN_PROGRESS --complete--> COMPLETED
//   RECEIVED, VERIFYING, VERIFIED or IN_PROGRESS --reject--> REJECTED

/// What a verification attempt led to.
public enum VerificationOutcome: Sendable, Equatable {
  /// The token matched: the request is VERIFIED.
  case verified
  /// Refused; `counted` tells whether the refusal used up an attempt (the request changed and
  /// must be stored before the error is returned).
  case refused(RightsError, counted: Bool)
}

extension SubjectRequest {
  private func requireOpen() throws(RightsError) {
    if status.isClosed { throw .requestClosed(status: status) }
  }

  /// Issues a token (only its hash is given) and moves RECEIVED to VERIFYING; on VERIFYING it
  /// supersedes the previous token. Returns the new token's expiry.
  public mutating func startVerification(tokenHash: String, now: Date) throws(RightsError) -> Date {
    try requireOpen()
    if status == .verified || status == .inProgress { throw .alreadyVerified(status: status) }
    if verification.locked { throw .verificationLocked }
    if requesterEmail.isEmpty { throw .noRequesterEmail }
    let now = now.microsecondPrecision
    supersedeOutstandingToken(at: now)
    let expiresAt = now.addingTimeInterval(VerificationState.tokenLifetime).microsecondPrecision
    verification.tokens.append(VerificationToken(hash: tokenHash, issuedAt: now, expiresAt: expiresAt))
    status = .verifying
    updatedAt = now
    return expiresAt
  }

  private mutating func supersedeOutstandingToken(at now: Date) {
    if let last = verification.tokens.indices.last, verification.tokens[last].usedAt == nil,
      verification.tokens[last].supersededAt == nil
    {
      verification.tokens[last].supersededAt = now
    }
  }

  /// Checks a presented token (given as its hash). A wrong one uses up an attempt; the fifth
  /// locks verification for good.
  public mutating func confirmVerification(tokenHash: String, now: Date, by actor: String) -> VerificationOutcome {
    let now = now.microsecondPrecision
    let known = verification.tokens.lastIndex { ConstantTime.equals($0.hash, tokenHash) }
    switch status {
    case .completed, .rejected:
      return .refused(.requestClosed(status: status), counted: false)
    case .verified, .inProgress:
      if let known, verification.tokens[known].usedAt != nil { return .refused(.tokenAlreadyUsed, counted: false) }
      return .refused(.alreadyVerified(status: status), counted: false)
    case .received:
      return .refused(.verificationNotStarted, counted: false)
    case .verifying:
      break
    }
    if verification.locked { return .refused(.verificationLocked, counted: false) }
    guard let known else {
      verification.attemptsLeft = max(0, verification.attemptsLeft - 1)
      updatedAt = now
      if verification.attemptsLeft == 0 {
        verification.locked = true
        return .refused(.verificationLocked, counted: true)
      }
      return .refused(.tokenMismatch(attemptsLeft: verification.attemptsLeft), counted: true)
    }
    let token = verification.tokens[known]
    if token.usedAt != nil { return .refused(.tokenAlreadyUsed, counted: false) }
    if token.supersededAt != nil { return .refused(.tokenSuperseded, counted: false) }
    if now >= token.expiresAt { return .refused(.tokenExpired, counted: false) }
    verification.tokens[known].usedAt = now
    markVerified(.emailToken, by: actor, note: "", at: now)
    return .verified
  }

  /// Staff attest the requester's identity (or the controller initiated the request).
  public mutating func verifyManually(note: String, now: Date, by actor: String) throws(RightsError) {
    try requireOpen()
    if status == .verified || status == .inProgress { throw .alreadyVerified(status: status) }
    let now = now.microsecondPrecision
    supersedeOutstandingToken(at: now)
    markVerified(.manual, by: actor, note: note, at: now)
  }

  private mutating func markVerified(_ method: VerificationMethod, by actor: String, note: String, at now: Date) {
    status = .verified
    verification.method = method
    verification.verifiedAt = now
    verification.verifiedBy = actor
    verification.note = note
    updatedAt = now
  }

  /// Sets the subject of a request opened without one.
  public mutating func identify(subjectID: String, now: Date) throws(RightsError) {
    try requireOpen()
    if !self.subjectID.isEmpty { throw .subjectAlreadySet }
    if status == .inProgress { throw .illegalTransition(status: status, action: "identify the subject of") }
    self.subjectID = subjectID
    updatedAt = now.microsecondPrecision
  }

  /// Extends the deadline by `months` (1 or 2), at most two months in total, before it passes.
  /// The new deadline is computed from receipt, so two extensions of one month equal one of two.
  public mutating func extendDeadline(months: Int, reason: String, now: Date, by actor: String) throws(RightsError) {
    try requireOpen()
    let left = Deadline.maximumExtensionMonths - extensionMonths
    if months > left { throw .extensionLimit(monthsLeft: left) }
    if now >= dueAt { throw .deadlinePassed(dueAt: dueAt) }
    let now = now.microsecondPrecision
    dueAt = Deadline.due(receivedAt: receivedAt, extensionMonths: extensionMonths + months)
    extensions.append(DeadlineExtension(months: months, reason: reason, extendedAt: now, extendedBy: actor, dueAt: dueAt))
    updatedAt = now
  }

  /// VERIFIED -> IN_PROGRESS. Returns false (nothing changed) when already IN_PROGRESS.
  public mutating func startProcessing(now: Date) throws(RightsError) -> Bool {
    try requireOpen()
    switch status {
    case .inProgress: return false
    case .received, .verifying: throw .illegalTransition(status: status, action: "start processing (not verified)")
    case .verified, .completed, .rejected: break
    }
    if subjectID.isEmpty { throw .subjectNotIdentified }
    let now = now.microsecondPrecision
    status = .inProgress
    startedAt = now
    updatedAt = now
    return true
  }

  /// Records a step's status: the first call creates it, later ones update it. Returns the step
  /// as stored and whether anything changed.
  public mutating func recordStep(
    name: String, status newStatus: StepStatus, detail: String, error: String, now: Date
  ) throws(RightsError) -> (step: Step, changed: Bool) {
    try requireOpen()
    guard status == .inProgress else { throw .illegalTransition(status: status, action: "record a step of") }
    let now = now.microsecondPrecision
    guard let index = steps.firstIndex(where: { $0.name == name }) else {
      var step = Step(
        name: name, sequence: steps.count + 1, status: newStatus, detail: detail, attempts: 0, startedAt: nil, finishedAt: nil,
        lastError: "", updatedAt: now)
      step.enter(newStatus, error: error, at: now)
      steps.append(step)
      updatedAt = now
      return (step, true)
    }
    var step = steps[index]
    if step.status.isFinal {
      if step.status == newStatus { return (step, false) }
      throw .stepFinished(step: name, status: step.status)
    }
    if step.status == newStatus {
      // Same status: only the detail (and a failure's error) may change.
      let changed = (!detail.isEmpty && detail != step.detail) || (newStatus == .failed && error != step.lastError)
      guard changed else { return (step, false) }
      if !detail.isEmpty { step.detail = detail }
      if newStatus == .failed { step.lastError = error }
    } else {
      if !detail.isEmpty { step.detail = detail }
      step.enter(newStatus, error: error, at: now)
    }
    step.updatedAt = now
    steps[index] = step
    updatedAt = now
    return (step, true)
  }

  /// IN_PROGRESS -> COMPLETED with the outcome, the artifact (its content is stored apart) and
  /// the recipients told.
  public mutating func complete(
    outcome: String, artifact: ArtifactInfo?, notifications: [RecipientNotification], now: Date
  ) throws(RightsError) {
    try requireOpen()
    guard status == .inProgress else { throw .illegalTransition(status: status, action: "complete") }
    if let unfinished = steps.first(where: { !$0.status.isFinal }) {
      throw .stepsUnfinished(step: unfinished.name, status: unfinished.status)
    }
    if right.requiresArtifact && artifact == nil { throw .artifactRequired(right) }
    let now = now.microsecondPrecision
    status = .completed
    self.outcome = outcome
    self.artifact = artifact
    recipientsNotified = notifications
    closedAt = now
    updatedAt = now
  }

  /// Rejects an open request.
  public mutating func reject(reason: String, grounds: RejectionGrounds?, now: Date, by actor: String) throws(RightsError) {
    try requireOpen()
    let now = now.microsecondPrecision
    supersedeOutstandingToken(at: now)
    status = .rejected
    rejection = Rejection(grounds: grounds, reason: reason, rejectedAt: now, rejectedBy: actor)
    closedAt = now
    updatedAt = now
  }

  /// Marks the artifact's content as deleted (its description and hash stay as proof).
  public mutating func purgeArtifact(at now: Date) {
    guard artifact != nil, artifact?.purgedAt == nil else { return }
    artifact?.purgedAt = now.microsecondPrecision
    updatedAt = now.microsecondPrecision
  }

  /// Once the subject is erased, or the closed-request retention has run out, a closed request
  /// keeps what proves it was handled (right, dates, steps, outcome, who acted) but not what
  /// identifies the person: the requester's address, free-text notes and the corrected values of
  /// a rectification (the field names stay). An open request keeps them: they are still needed
  /// to answer it.
  public mutating func scrubPersonalData(at now: Date) {
    guard status.isClosed, personalDataScrubbedAt == nil else { return }
    requesterEmail = ""
    details.note = ""
    details.rectification = details.rectification.map { changes in changes.mapValues { _ in "" } }
    verification.note = ""
    personalDataScrubbedAt = now.microsecondPrecision
    updatedAt = now.microsecondPrecision
  }
}

extension Step {
  /// Moves the step into `status`: RUNNING counts an attempt and restarts the clock; DONE, FAILED
  /// and SKIPPED stamp the finish; FAILED keeps the error.
  mutating func enter(_ newStatus: StepStatus, error: String, at now: Date) {
    status = newStatus
    switch newStatus {
    case .running:
      attempts += 1
      startedAt = now
      finishedAt = nil
    case .done, .skipped:
      finishedAt = now
    case .failed:
      finishedAt = now
      lastError = error
    case .pending:
      break
    }
  }
}
