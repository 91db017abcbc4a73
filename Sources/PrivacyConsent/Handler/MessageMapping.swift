import Foundation
import PrivacyKit
import PrivacyProtocol
import SwiftProtobuf

// Proto <-> domain messages of privacy.consent.v1, and the request checks that turn bad input
// into INVALID_ARGUMENT naming the field.

/// How far in the future a `captured_at` may be (clock skew between systems).
let allowedClockSkew: TimeInterval = 5 * 60

extension Evidence {
  /// Reads evidence from a request. `defaultChannel` is used when the request leaves the channel
  /// unset; without one a missing channel is refused. Output-only fields are ignored.
  init(
    _ proto: Privacy_Consent_V1_Evidence, field: String = "evidence", defaultChannel: Channel? = nil,
    defaultActorKind: ActorKind = .unspecified, now: Date
  ) throws(InvalidArgument) {
    try Validate.knownEnum(proto.channel, field: "\(field).channel")
    guard let channel = Channel(proto.channel) ?? defaultChannel else { throw InvalidArgument("\(field).channel is required") }
    var capturedAt = now
    if proto.hasCapturedAt {
      guard proto.capturedAt.isWellFormed else { throw InvalidArgument("\(field).captured_at is not a valid timestamp") }
      capturedAt = proto.capturedAt.date
      guard capturedAt <= now.addingTimeInterval(allowedClockSkew) else {
        throw InvalidArgument("\(field).captured_at must not be in the future")
      }
    }
    try Validate.knownEnum(proto.actorKind, field: "\(field).actor_kind")
    try Validate.knownEnum(proto.subjectAge, field: "\(field).subject_age")
    let actorKind = ActorKind(proto.actorKind)
    if channel == .emailLink && actorKind == .guardian {
      throw InvalidArgument("\(field): only a confirmation link sent to a guardian records a guardian's click (channel EMAIL_LINK, actor GUARDIAN)")
    }
    var subjectAge = SubjectAge(proto.subjectAge)
    if let derived = try Self.age(proto, field: field, at: capturedAt) {
      guard subjectAge == .unspecified || subjectAge == derived else {
        throw InvalidArgument("\(field).subject_age contradicts \(field).birth_date and \(field).country")
      }
      subjectAge = derived
    }
    self.init(
      channel: channel,
      formName: try Validate.optionalText(proto.formName, field: "\(field).form_name", maxLength: 200),
      ipAddress: try Validate.ipAddress(proto.ipAddress, field: "\(field).ip_address"),
      userAgent: try Validate.optionalText(proto.userAgent, field: "\(field).user_agent", maxLength: 1024),
      actor: try Validate.optionalText(proto.actor, field: "\(field).actor", maxLength: 200),
      actorKind: actorKind == .unspecified ? defaultActorKind : actorKind,
      noticeVersion: try Validate.optionalText(proto.noticeVersion, field: "\(field).notice_version", maxLength: 64),
      capturedAt: capturedAt,
      subjectAge: subjectAge
    )
  }

  /// The age status `birth_date` and `country` give at the time of capture (art 8); nil when
  /// neither is set.
  private static func age(_ proto: Privacy_Consent_V1_Evidence, field: String, at date: Date) throws(InvalidArgument) -> SubjectAge? {
    switch (proto.birthDate.isEmpty, proto.country.isEmpty) {
    case (true, true): return nil
    case (false, true), (true, false): throw InvalidArgument("\(field).birth_date and \(field).country go together")
    case (false, false): break
    }
    let country = try Validate.countryCode(proto.country, field: "\(field).country")
    let parts = proto.birthDate.split(separator: "-", omittingEmptySubsequences: false)
    guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
      let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]), (1...12).contains(month), (1...31).contains(day),
      let status = DigitalConsentAge.status(bornOn: DateComponents(year: year, month: month, day: day), country: country, at: date)
    else { throw InvalidArgument("\(field).birth_date must be a past date written YYYY-MM-DD") }
    return status
  }

  var proto: Privacy_Consent_V1_Evidence {
    .with {
      $0.channel = channel.proto
      $0.formName = formName
      $0.ipAddress = ipAddress
      $0.userAgent = userAgent
      $0.actor = actor
      $0.actorKind = actorKind.proto
      $0.noticeVersion = noticeVersion
      $0.capturedAt = capturedAt.protoTimestamp
      $0.subjectAge = subjectAge.proto
      $0.emailAddress = emailAddress
      $0.personalDataErased = personalDataErased
    }
  }
}

extension LedgerEvent {
  var proto: Privacy_Consent_V1_ConsentEvent {
    .with {
      $0.sequence = sequence
      $0.subjectID = subjectID
      $0.kind = kind.proto
      $0.purposeID = purposeID
      $0.decision = decision?.proto ?? .unspecified
      $0.legalBasis = legalBasis?.proto ?? .unspecified
      $0.optInStatus = optInStatus?.proto ?? .unspecified
      $0.listID = listID
      $0.restricted = restricted
      $0.reason = reason
      $0.evidence = evidence.proto
      $0.recordedAt = recordedAt.protoTimestamp
      $0.recordedByActor = recordedBy.actor
      $0.recordedByRole = recordedBy.role
      $0.requestID = recordedBy.requestID
      $0.preferenceChangeID = preferenceChangeID
      $0.hash = hash
      $0.prevHash = previousHash
    }
  }
}

extension PurposeDraft {
  init(_ proto: Privacy_Consent_V1_Purpose) throws(InvalidArgument) {
    let basis = try Validate.requiredEnum(proto.legalBasis, field: "purpose.legal_basis", LegalBasis.init)
    let category = try Validate.requiredEnum(proto.category, field: "purpose.category", PurposeCategory.init)
    if !proto.vaultFields.isEmpty && category != .dataStorage {
      throw InvalidArgument("purpose.vault_fields is only allowed on DATA_STORAGE purposes")
    }
    var fields: [String] = []
    for name in proto.vaultFields {
      fields.append(try Validate.fieldName(name, field: "purpose.vault_fields"))
    }
    guard proto.subjectCategories.count <= 20 else { throw InvalidArgument("purpose.subject_categories holds at most 20 categories") }
    var subjectCategories: [String] = []
    for category in proto.subjectCategories {
      subjectCategories.append(try Validate.requiredText(category, field: "purpose.subject_categories", maxLength: 200))
    }
    self.init(
      id: try Validate.slug(proto.purposeID, field: "purpose.purpose_id"),
      title: try Validate.requiredText(proto.title, field: "purpose.title", maxLength: 200),
      description: try Validate.optionalText(proto.description_p, field: "purpose.description", maxLength: 2000),
      legalBasis: basis, category: category, retentionDays: proto.retentionDays,
      noticeVersion: try Validate.requiredText(proto.noticeVersion, field: "purpose.notice_version", maxLength: 64),
      noticeText: try Validate.requiredText(proto.noticeText, field: "purpose.notice_text", maxLength: 100_000),
      vaultFields: Array(Set(fields)).sorted(), subjectCategories: subjectCategories, askWhen: try Self.askWhen(proto.askWhen)
    )
  }

  private static func askWhen(_ text: String) throws(InvalidArgument) -> AskCondition {
    do {
      return try AskCondition(text)
    } catch {
      throw InvalidArgument("purpose.ask_when \(error.problem)")
    }
  }
}

extension Purpose {
  var proto: Privacy_Consent_V1_Purpose {
    .with {
      $0.purposeID = id
      $0.title = title
      $0.description_p = description
      $0.legalBasis = legalBasis.proto
      $0.category = category.proto
      $0.retentionDays = retentionDays
      $0.noticeVersion = noticeVersion
      $0.noticeText = currentNotice?.text ?? ""
      $0.vaultFields = vaultFields
      $0.subjectCategories = subjectCategories
      $0.askWhen = askWhen.text
      $0.noticeHistory = notices.map { notice in
        .with {
          $0.version = notice.version
          $0.text = notice.text
          $0.publishedAt = notice.publishedAt.protoTimestamp
        }
      }
      $0.createdAt = createdAt.protoTimestamp
      $0.updatedAt = updatedAt.protoTimestamp
    }
  }
}

extension MailingList {
  var proto: Privacy_Consent_V1_MailingList {
    .with {
      $0.listID = id
      $0.name = name
      $0.description_p = description
      $0.defaultSubscribed = defaultSubscribed
      $0.createdAt = createdAt.protoTimestamp
      $0.updatedAt = updatedAt.protoTimestamp
    }
  }
}

extension SubjectFilter {
  init(_ proto: Privacy_Consent_V1_SubjectFilter) throws(InvalidArgument) {
    self.init()
    if !proto.purposeID.isEmpty {
      purposeID = try Validate.slug(proto.purposeID, field: "filter.purpose_id")
      guard !proto.decisions.isEmpty else { throw InvalidArgument("filter.decisions is required with filter.purpose_id") }
    } else if !proto.decisions.isEmpty {
      throw InvalidArgument("filter.decisions needs filter.purpose_id")
    }
    for decision in proto.decisions {
      try Validate.knownEnum(decision, field: "filter.decisions")
      decisions.insert(Decision(decision))
    }
    for status in proto.optInStatuses {
      optInStatuses.insert(try Validate.requiredEnum(status, field: "filter.opt_in_statuses", OptInStatus.init))
    }
    restricted = proto.hasRestricted ? proto.restricted : nil
    includeErased = proto.includeErased
  }

  /// A stable text form, so a page token only works with the filter that issued it.
  var scopeKey: String {
    let decisionKeys = decisions.map { $0?.rawValue ?? "none" }.sorted().joined(separator: ",")
    let statusKeys = optInStatuses.map(\.rawValue).sorted().joined(separator: ",")
    return "\(purposeID ?? "")|\(decisionKeys)|\(statusKeys)|\(restricted.map(String.init) ?? "")|\(includeErased)"
  }
}

extension OutboxMessage {
  var proto: Privacy_Consent_V1_OutboxMessage {
    .with {
      $0.messageID = id
      $0.kind = kind.proto
      $0.subjectID = subjectID
      $0.emailAddress = emailAddress
      $0.subjectLine = subjectLine
      $0.body = body
      $0.link = link
      $0.preferenceURL = preferenceURL
      if !unsubscribeURL.isEmpty {
        $0.listUnsubscribe = MintedPreferenceLink.listUnsubscribe(unsubscribeURL)
        $0.listUnsubscribePost = MintedPreferenceLink.listUnsubscribePost
      }
      $0.createdAt = createdAt.protoTimestamp
      $0.expiresAt = expiresAt.protoTimestamp
      if let ackedAt { $0.ackedAt = ackedAt.protoTimestamp }
      $0.delivery = delivery.proto
      $0.language = language.rawValue
    }
  }
}

extension PreferenceChangeItem {
  init(_ proto: Privacy_Consent_V1_PreferenceChange, index: Int) throws(InvalidArgument) {
    switch proto.change {
    case .consent(let change)?:
      let decision = try Validate.requiredEnum(change.decision, field: "changes[\(index)].consent.decision", Decision.init)
      self = .consent(purposeID: try Validate.slug(change.purposeID, field: "changes[\(index)].consent.purpose_id"), decision: decision)
    case .subscription(let change)?:
      self = .subscription(
        listID: try Validate.slug(change.listID, field: "changes[\(index)].subscription.list_id"), subscribed: change.subscribed)
    case .restriction(let change)?:
      self = .restriction(restricted: change.restricted)
    case nil:
      throw InvalidArgument("changes[\(index)] names no change")
    }
  }
}

extension ConsentAnswer {
  /// The answer as CheckConsent (and each pair of CheckConsentBatch) gives it.
  var proto: Privacy_Consent_V1_CheckConsentResponse {
    .with {
      $0.allowed = allowed
      $0.legalBasis = legalBasis.proto
      $0.reason = reason.proto
      $0.eventSequence = eventSequence
      $0.decision = decision?.proto ?? .unspecified
      $0.detail = detail
    }
  }

  func purposeState(_ purposeID: String, record: DecisionRecord?) -> Privacy_Consent_V1_PurposeState {
    .with {
      $0.purposeID = purposeID
      $0.decision = decision?.proto ?? .unspecified
      $0.legalBasis = legalBasis.proto
      $0.allowed = allowed
      $0.reason = reason.proto
      $0.eventSequence = eventSequence
      if let record {
        $0.decidedAt = record.decidedAt.protoTimestamp
        $0.noticeVersion = record.noticeVersion
      }
    }
  }
}
