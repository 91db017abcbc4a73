import Foundation
import GRPCCore
import PrivacyKit
import PrivacyProtocol

/// CreateContact: the re-entry check against the blocklist first, then the vault record, the
/// consents with their evidence, the email opt-in status (and double opt-in) and the engagement
/// date. Everything the caller sent is checked before the first write, so bad input changes
/// nothing. Retrying with the same subject_id repeats the workflow without duplicating consent
/// events or opt-in messages.
///
/// A webform submission with the marketing box ticked and an email waits for its double opt-in:
/// its record is written last, pending (sealed, not searchable, not usable) while the link is
/// live, so that a record is never pending without a link whose expiry will discard it. The
/// consent reactor releases it on confirmation and discards it on expiry.
struct ContactCreation {
  let context: WorkflowContext

  func create(_ message: Privacy_Gateway_V1_CreateContactRequest) async throws -> Privacy_Gateway_V1_CreateContactResponse {
    let input = try ContactInput(message)
    context.call.concerns(subject: input.subjectID)
    let fields = try await context.vaultFields()
    for name in input.values.keys.sorted() where fields[name] == nil {
      throw InvalidArgument("values names unknown field \(name.clipped)")
    }
    let purposes = input.consents.isEmpty ? [:] : try await context.purposes()
    for consent in input.consents where purposes[consent.purposeID] == nil {
      throw RPCNotFound(message: "unknown purpose \(consent.purposeID.clipped)")
    }
    var steps = StepList()

    let email = input.values.first { fields[$0.key]?.tags.contains("email") == true && !$0.value.isEmpty }?.value
    let awaitsDoubleOptIn = input.marketingBoxTicked && input.evidence.channel == .webform && email != nil
    let identifiers = ReentryCheck.identifiers(input.values, fields: fields)
    var response = Privacy_Gateway_V1_CreateContactResponse()
    response.subjectID = input.subjectID
    response.reentryOutcome = try await checkBlocklist(identifiers, input: input, awaitsDoubleOptIn: awaitsDoubleOptIn)
    steps.done("blocklist_checked", StepDetail.json([
      "identifiers_checked": identifiers.count, "outcome": ProtoJSON.enumName(response, key: "reentry_outcome"),
    ]))
    try await unlockGrantedStorageFields(input: input, purposes: purposes)
    func writeRecordStep(pending: Bool) async throws {
      let written = try await writeRecord(input, pending: pending)
      response.recordVersion = UInt64(max(0, written.version))
      response.pending = written.pending
      steps.done("vault_record_written", StepDetail.json(["fields": input.values.keys.sorted(), "pending": written.pending]))
    }
    if !awaitsDoubleOptIn { try await writeRecordStep(pending: false) }

    response.consentEvents = try await recordConsents(input)
    steps.done("consents_recorded", StepDetail.json(["count": response.consentEvents.count]))

    if input.marketingBoxTicked {
      (response.optInStatus, response.doubleOptInMessageID) = try await setOptIn(input, email: email)
      steps.done("opt_in_status_set", StepDetail.json(["double_opt_in_started": !response.doubleOptInMessageID.isEmpty]))
    } else {
      steps.skipped("opt_in_status_set")
    }
    if awaitsDoubleOptIn {
      try await writeRecordStep(pending: response.optInStatus == .singleOptInWebform)
      // No confirmation will come for a record that is not pending: the held re-entry applies now.
      if response.reentryOutcome == .awaitingConfirmation && !response.pending {
        try await removeOwnWebformMatches(try await ReentryCheck(context: context).matches(identifiers), of: identifiers)
        try await context.gateway.reactorStore?.dropReentry(input.subjectID)
        response.reentryOutcome = .removedOwnWebform
      }
    }

    _ = try await context.send(RightsMethod.RecordEngagement.self, .with {
      $0.subjectID = input.subjectID
      if input.evidence.hasCapturedAt { $0.at = input.evidence.capturedAt }
    })
    steps.done("engagement_recorded", "")

    if !response.pending {
      let record = try await context.send(VaultMethod.GetRecord.self, .with { $0.subjectID = input.subjectID }).record
      let filtered = RecordFilter(role: context.call.role).apply(record)
      response.fields = filtered.record.fields
      response.withheldFields = filtered.withheld
    }
    response.steps = steps.steps
    return response
  }

  /// A match refuses the contact, unless the person re-enters through their own webform (the
  /// entry is removed; when the submission waits for its double opt-in, only once the person
  /// confirms, since anyone can type an address into a form) or a role allowed to override gives
  /// a reason (the entry is kept; the reason is in the audit entry).
  private func checkBlocklist(
    _ identifiers: [Privacy_Blocklist_V1_Identifier], input: ContactInput, awaitsDoubleOptIn: Bool
  ) async throws -> Privacy_Gateway_V1_ReentryOutcome {
    let matches = try await ReentryCheck(context: context).matches(identifiers)
    guard let first = matches.first else { return .noMatch }
    if input.ownWebformSubmission {
      if awaitsDoubleOptIn, let store = context.gateway.reactorStore {
        try await store.holdReentry(input.subjectID, at: Date())
        return .awaitingConfirmation
      }
      try await removeOwnWebformMatches(matches, of: identifiers)
      return .removedOwnWebform
    }
    if !input.overrideReason.isEmpty {
      guard context.call.role.canOverrideBlocklist else { throw WorkflowError.overrideNotPermitted(role: context.call.role.name) }
      return .overridden
    }
    throw ReentryCheck.refusal(first)
  }

  private func removeOwnWebformMatches(
    _ matches: [Privacy_Blocklist_V1_CheckResult], of identifiers: [Privacy_Blocklist_V1_Identifier]
  ) async throws {
    guard !matches.isEmpty else { return }
    _ = try await context.send(BlocklistMethod.Remove.self, ReentryCheck.ownWebformRemoval(matches, of: identifiers))
  }

  /// Consent to storage granted again unlocks the fields its withdrawal locked.
  private func unlockGrantedStorageFields(input: ContactInput, purposes: [String: Privacy_Consent_V1_Purpose]) async throws {
    let fields = Set(input.consents.filter { $0.decision == .granted }.flatMap { consent -> [String] in
      guard let purpose = purposes[consent.purposeID], purpose.category == .dataStorage else { return [] }
      return purpose.vaultFields
    })
    guard !fields.isEmpty else { return }
    _ = try await context.sendIfFound(VaultMethod.UnlockFields.self, .with {
      $0.subjectID = input.subjectID
      $0.fields = fields.sorted()
      $0.reason = "storage consent granted again"
    })
  }

  private func writeRecord(_ input: ContactInput, pending: Bool) async throws -> Privacy_Vault_V1_PutRecordResponse {
    do {
      return try await context.send(VaultMethod.PutRecord.self, .with {
        $0.subjectID = input.subjectID
        $0.values = input.values
        $0.pending = pending
        $0.source = .with {
          $0.channel = input.evidence.channel
          $0.formName = input.evidence.formName
          $0.ipAddress = input.evidence.ipAddress
          $0.actorKind = input.evidence.actorKind
          if input.evidence.hasCapturedAt { $0.capturedAt = input.evidence.capturedAt }
        }
      })
    } catch let error as RPCError where error.code == .failedPrecondition {
      let info = (try? error.unpackGoogleRPCStatus())?.details.lazy.compactMap(\.errorInfo).first
      switch info?.reason {
      case "FIELD_LOCKED":
        let field = info?.metadata["field"] ?? ""
        throw WorkflowError(
          .failedPrecondition, "field \(field) is locked after a withdrawn consent", reason: "FIELD_LOCKED", metadata: ["field": field])
      case "RECORD_RESTRICTED":
        throw WorkflowError(.failedPrecondition, "processing of subject \(input.subjectID.clipped) is restricted", reason: "SUBJECT_RESTRICTED")
      case "RECORD_PENDING":
        throw WorkflowError(
          .failedPrecondition, "subject \(input.subjectID.clipped) waits for the confirmation of a double opt-in", reason: "SUBJECT_PENDING")
      default:
        throw error
      }
    }
  }

  /// One event per consent; a consent whose latest decision is already the one given is not
  /// recorded again (a retry), its existing event is returned.
  private func recordConsents(_ input: ContactInput) async throws -> [Privacy_Consent_V1_ConsentEvent] {
    guard !input.consents.isEmpty else { return [] }
    let state = try await context.consentState(subjectID: input.subjectID)
    var events: [Privacy_Consent_V1_ConsentEvent] = []
    for consent in input.consents {
      if let current = state?.purposes.first(where: { $0.purposeID == consent.purposeID }), current.decision == consent.decision,
        current.eventSequence > 0,
        let event = try await context.consentEvents(subjectID: input.subjectID, purposeID: consent.purposeID)
          .first(where: { $0.sequence == current.eventSequence })
      {
        events.append(event)
        continue
      }
      var evidence = input.evidence
      if !consent.noticeVersion.isEmpty { evidence.noticeVersion = consent.noticeVersion }
      events.append(try await context.send(ConsentMethod.RecordConsent.self, .with {
        $0.subjectID = input.subjectID
        $0.purposeID = consent.purposeID
        $0.decision = consent.decision
        $0.evidence = evidence
      }).event)
    }
    return events
  }

  /// A ticked marketing box: SINGLE_OPT_IN_WEBFORM on the person's webform (set by the staff
  /// member as SINGLE_OPT_IN_USER on any other channel), then a double opt-in message to the
  /// email field, unless the status was already set and its link is still live (a retry).
  private func setOptIn(_ input: ContactInput, email: String?) async throws -> (Privacy_Consent_V1_OptInStatus, String) {
    let webform = input.evidence.channel == .webform
    let status: Privacy_Consent_V1_OptInStatus = webform ? .singleOptInWebform : .singleOptInUser
    let set = try await context.send(ConsentMethod.SetEmailOptInStatus.self, .with {
      $0.subjectID = input.subjectID
      $0.status = status
      $0.setBy = webform ? .webform : .user
      $0.evidence = input.evidence
    })
    guard let email else { return (set.status, "") }
    if !set.hasEvent {
      guard set.status == status, try await !hasLiveDoubleOptIn(input.subjectID) else { return (set.status, "") }
    }
    let started = try await context.send(ConsentMethod.StartDoubleOptIn.self, .with {
      $0.subjectID = input.subjectID
      $0.emailAddress = email
      $0.evidence = input.evidence
    })
    return (set.status, started.messageID)
  }

  /// Whether the subject's latest double opt-in was started and has not expired (a submission
  /// after its expiry, or after one that never got its link, sends a new link).
  private func hasLiveDoubleOptIn(_ subjectID: String) async throws -> Bool {
    let latest = try await context.consentEvents(subjectID: subjectID).last {
      $0.kind == .doubleOptInStarted || $0.kind == .doubleOptInExpired
    }
    return latest?.kind == .doubleOptInStarted
  }
}

/// A CreateContact request, checked and with its defaults applied.
struct ContactInput {
  var subjectID: String
  var values: [String: String]
  var consents: [Privacy_Gateway_V1_ContactConsent]
  var evidence: Privacy_Consent_V1_Evidence
  var ownWebformSubmission: Bool
  var marketingBoxTicked: Bool
  var overrideReason: String

  init(_ message: Privacy_Gateway_V1_CreateContactRequest) throws {
    guard !message.values.isEmpty else { throw InvalidArgument("values must hold at least one field") }
    guard message.hasSource else { throw InvalidArgument("source is required") }
    guard message.source.hasEvidence else { throw InvalidArgument("source.evidence is required") }
    var evidence = message.source.evidence
    guard evidence.channel != .unspecified else { throw InvalidArgument("source.evidence.channel is required") }
    if message.source.ownWebformSubmission && evidence.channel != .webform {
      throw InvalidArgument("own_webform_submission needs source.evidence.channel WEBFORM")
    }
    for (index, consent) in message.consents.enumerated() {
      guard !consent.purposeID.isEmpty else { throw InvalidArgument("consents[\(index)].purpose_id is required") }
      guard consent.decision != .unspecified else { throw InvalidArgument("consents[\(index)].decision is required") }
    }
    for (name, value) in message.values {
      _ = try Validate.fieldName(name, field: "values key")
      guard value.utf8.count <= 65_536 else { throw InvalidArgument("values[\(name)] is over 65,536 bytes") }
    }
    if !evidence.ipAddress.isEmpty { _ = try Validate.ipAddress(evidence.ipAddress, field: "source.evidence.ip_address") }
    _ = try Validate.optionalText(evidence.userAgent, field: "source.evidence.user_agent", maxLength: 1024)
    _ = try Validate.optionalText(evidence.formName, field: "source.evidence.form_name", maxLength: 200)
    _ = try Validate.optionalText(evidence.actor, field: "source.evidence.actor", maxLength: 200)
    if evidence.hasCapturedAt {
      guard evidence.capturedAt.isWellFormed, evidence.capturedAt.date <= Date().addingTimeInterval(300) else {
        throw InvalidArgument("source.evidence.captured_at is out of range or in the future")
      }
    }
    if evidence.actorKind == .unspecified { evidence.actorKind = message.source.ownWebformSubmission ? .subject : .staff }
    evidence.emailAddress = ""
    evidence.personalDataErased = false
    subjectID = message.subjectID.isEmpty ? "sub-\(UUID().uuidString.lowercased())" : try Validate.subjectID(message.subjectID)
    values = message.values
    consents = message.consents
    self.evidence = evidence
    ownWebformSubmission = message.source.ownWebformSubmission
    marketingBoxTicked = message.source.marketingBoxTicked
    overrideReason = message.overrideReason
    if !overrideReason.isEmpty { _ = try Validate.reason(overrideReason, field: "override_reason") }
  }
}

/// Steps of a workflow that is not a data-subject request, reported in its answer.
struct StepList {
  private(set) var steps: [Privacy_Rights_V1_Step] = []

  mutating func done(_ name: String, _ detail: String) { append(name, .done, detail) }
  mutating func skipped(_ name: String) { append(name, .skipped, "") }

  private mutating func append(_ name: String, _ status: Privacy_Rights_V1_StepStatus, _ detail: String) {
    let now = Date().protoTimestamp
    steps.append(.with {
      $0.name = name
      $0.sequence = Int32(steps.count + 1)
      $0.status = status
      $0.detail = detail
      $0.attempts = status == .done ? 1 : 0
      $0.finishedAt = now
      $0.updatedAt = now
    })
  }
}

/// RFC 3339 in UTC, as ErrorInfo metadata carries instants.
enum RFC3339 {
  static func string(_ date: Date) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.timeZone = TimeZone(identifier: "UTC")
    return formatter.string(from: date)
  }
}
