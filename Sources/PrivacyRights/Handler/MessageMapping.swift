import Foundation
import PrivacyKit
import PrivacyProtocol
import SwiftProtobuf

// Proto <-> domain messages of privacy.rights.v1, and the request checks that turn bad input into
// INVALID_ARGUMENT naming the field.

/// How far in the future a client's timestamp may be (clock skew between systems).
let allowedClockSkew: TimeInterval = 5 * 60

enum Check {
  /// Optional text limited in characters (not trimmed: stored as given).
  static func text(_ value: String, field: String, maxLength: Int) throws(InvalidArgument) -> String {
    guard value.count <= maxLength else { throw InvalidArgument("\(field) must be at most \(maxLength) characters") }
    return value
  }

  /// A timestamp that is set, well formed and not in the future; nil when unset.
  static func pastTimestamp(_ value: Google_Protobuf_Timestamp, isSet: Bool, field: String, now: Date) throws(InvalidArgument) -> Date? {
    guard isSet else { return nil }
    guard value.isWellFormed else { throw InvalidArgument("\(field) is not a valid timestamp") }
    let date = value.date
    guard date <= now.addingTimeInterval(allowedClockSkew) else { throw InvalidArgument("\(field) must not be in the future") }
    return date
  }
}

extension RequestDraft {
  init(_ proto: Privacy_Rights_V1_OpenRequestRequest, now: Date) throws(InvalidArgument) {
    let right = try Validate.requiredEnum(proto.right, field: "right", Right.init)
    let origin: RequestOrigin
    switch proto.origin {
    case .unspecified: origin = .dataSubject
    case .UNRECOGNIZED(let number): throw InvalidArgument("unknown value \(number) for origin")
    default: origin = RequestOrigin(proto.origin)!
    }
    try Validate.knownEnum(proto.channel, field: "channel")
    let channel = Channel(proto.channel)
    let subjectID = proto.subjectID.isEmpty ? "" : try Validate.subjectID(proto.subjectID)
    var email = ""
    if origin == .dataSubject || !proto.requesterEmail.trimmingWhitespace.isEmpty {
      email = try Validate.emailAddress(proto.requesterEmail, field: "requester_email")
    }
    if origin == .dataSubject && channel == nil { throw InvalidArgument("channel is required on DATA_SUBJECT requests") }
    if origin == .retention {
      guard right == .erasure else { throw InvalidArgument("origin RETENTION is only allowed on ERASURE requests") }
      guard !subjectID.isEmpty else { throw InvalidArgument("subject_id is required on RETENTION requests") }
    }
    let details = try RequestDetails(proto.details, isSet: proto.hasDetails)
    try details.check(for: right)
    let receivedAt = try Check.pastTimestamp(proto.receivedAt, isSet: proto.hasReceivedAt, field: "received_at", now: now)
    let key = try Check.text(proto.idempotencyKey, field: "idempotency_key", maxLength: 128)
    self.init(
      subjectID: subjectID, right: right, origin: origin, requesterEmail: email, channel: channel, details: details,
      receivedAt: receivedAt, idempotencyKey: key, language: try MailLanguage.parse(proto.language))
  }
}

extension RequestDetails {
  init(_ proto: Privacy_Rights_V1_RequestDetails, isSet: Bool) throws(InvalidArgument) {
    self.init()
    guard isSet else { return }
    note = try Check.text(proto.note, field: "details.note", maxLength: 10_000)
    switch proto.specifics {
    case .rectification(let rectification)?:
      var changes: [String: String] = [:]
      for (name, value) in rectification.changes {
        _ = try Validate.slug(name, field: "details.rectification.changes key")
        changes[name] = try Check.text(value, field: "details.rectification.changes[\(name)]", maxLength: 10_000)
      }
      self.rectification = changes
    case .objection(let objection)?:
      var purposes: [String] = []
      for id in objection.purposeIds {
        let id = try Validate.slug(id, field: "details.objection.purpose_ids")
        if !purposes.contains(id) { purposes.append(id) }
      }
      self.objection = Objection(purposeIDs: purposes, directMarketing: objection.directMarketing)
    case nil:
      break
    }
  }

  var proto: Privacy_Rights_V1_RequestDetails {
    .with {
      if let rectification { $0.rectification = .with { $0.changes = rectification } }
      if let objection {
        $0.objection = .with {
          $0.purposeIds = objection.purposeIDs
          $0.directMarketing = objection.directMarketing
        }
      }
      $0.note = note
    }
  }
}

extension SubjectRequest {
  func proto(now: Date) -> Privacy_Rights_V1_DataSubjectRequest {
    .with {
      $0.requestID = id
      $0.language = mailLanguage.rawValue
      $0.subjectID = subjectID
      $0.right = right.proto
      $0.status = status.proto
      $0.origin = origin.proto
      $0.requesterEmail = requesterEmail
      $0.channel = channel?.proto ?? .unspecified
      $0.details = details.proto
      $0.receivedAt = receivedAt.protoTimestamp
      $0.dueAt = dueAt.protoTimestamp
      $0.originalDueAt = originalDueAt.protoTimestamp
      $0.overdue = isOverdue(at: now)
      $0.extensions = extensions.map { e in
        .with {
          $0.months = Int32(e.months)
          $0.reason = e.reason
          $0.extendedAt = e.extendedAt.protoTimestamp
          $0.extendedBy = e.extendedBy
          $0.dueAt = e.dueAt.protoTimestamp
        }
      }
      $0.verification = verification.proto
      $0.steps = steps.map(\.proto)
      $0.outcome = outcome
      if let artifact { $0.artifact = artifact.proto }
      $0.recipientsNotified = recipientsNotified.map(\.proto)
      if let rejection {
        $0.rejection = .with {
          $0.grounds = rejection.grounds?.proto ?? .unspecified
          $0.reason = rejection.reason
          $0.rejectedAt = rejection.rejectedAt.protoTimestamp
          $0.rejectedBy = rejection.rejectedBy
        }
      }
      $0.openedBy = openedBy
      if let startedAt { $0.startedAt = startedAt.protoTimestamp }
      if let closedAt { $0.closedAt = closedAt.protoTimestamp }
      if let personalDataScrubbedAt { $0.personalDataScrubbedAt = personalDataScrubbedAt.protoTimestamp }
      $0.updatedAt = updatedAt.protoTimestamp
      $0.idempotencyKey = idempotencyKey
    }
  }
}

extension VerificationState {
  var proto: Privacy_Rights_V1_Verification {
    .with {
      $0.method = method?.proto ?? .unspecified
      $0.attemptsLeft = Int32(attemptsLeft)
      $0.locked = locked
      if let current = currentToken {
        $0.tokenIssuedAt = current.issuedAt.protoTimestamp
        $0.tokenExpiresAt = current.expiresAt.protoTimestamp
      }
      $0.tokensIssued = Int32(tokens.count)
      if let verifiedAt { $0.verifiedAt = verifiedAt.protoTimestamp }
      $0.verifiedBy = verifiedBy
      $0.note = note
    }
  }
}

extension Step {
  var proto: Privacy_Rights_V1_Step {
    .with {
      $0.name = name
      $0.sequence = Int32(sequence)
      $0.status = status.proto
      $0.detail = detail
      $0.attempts = Int32(attempts)
      if let startedAt { $0.startedAt = startedAt.protoTimestamp }
      if let finishedAt { $0.finishedAt = finishedAt.protoTimestamp }
      $0.lastError = lastError
      $0.updatedAt = updatedAt.protoTimestamp
    }
  }
}

extension ArtifactInfo {
  var proto: Privacy_Rights_V1_ArtifactInfo {
    .with {
      $0.mediaType = mediaType
      $0.fileName = fileName
      $0.sizeBytes = Int64(sizeBytes)
      $0.sha256 = sha256
      $0.createdAt = createdAt.protoTimestamp
      $0.expiresAt = (purgedAt ?? expiresAt).protoTimestamp
      $0.purged = purged
      if let download {
        $0.downloadExpiresAt = download.expiresAt.protoTimestamp
        if let usedAt = download.usedAt { $0.downloadedAt = usedAt.protoTimestamp }
      }
    }
  }

  func artifactProto(content: Data) -> Privacy_Rights_V1_Artifact {
    .with {
      $0.content = content
      $0.mediaType = mediaType
      $0.fileName = fileName
      $0.sizeBytes = Int64(sizeBytes)
      $0.sha256 = sha256
      $0.createdAt = createdAt.protoTimestamp
    }
  }
}

extension ArtifactUpload {
  /// Checks an artifact from CompleteRequest; content over 3 MiB is RESOURCE_EXHAUSTED.
  init(_ proto: Privacy_Rights_V1_Artifact) throws {
    guard proto.content.count <= ArtifactInfo.maximumBytes else { throw RightsError.artifactTooLarge(size: proto.content.count) }
    let mediaType = proto.mediaType.trimmingWhitespace
    guard !mediaType.isEmpty else { throw InvalidArgument("artifact.media_type is required") }
    guard mediaType.count <= 200, mediaType.contains("/"), !mediaType.unicodeScalars.contains(where: Self.isControlOrSpace) else {
      throw InvalidArgument("artifact.media_type must be an IANA media type such as application/zip, up to 200 characters")
    }
    var fileName = proto.fileName
    if fileName.isEmpty { fileName = "artifact" }
    guard fileName.count <= 255, fileName != ".", fileName != "..",
      !fileName.unicodeScalars.contains(where: { $0 == "/" || $0 == "\\" || $0.properties.generalCategory == .control })
    else {
      throw InvalidArgument("artifact.file_name must be 1-255 characters without path separators or control characters")
    }
    self.init(content: proto.content, mediaType: mediaType, fileName: fileName)
  }

  private static func isControlOrSpace(_ scalar: Unicode.Scalar) -> Bool {
    scalar.properties.generalCategory == .control || scalar == " "
  }
}

extension RecipientNotification {
  var proto: Privacy_Rights_V1_RecipientNotification {
    .with {
      $0.recipientID = recipientID
      $0.recipientName = recipientName
      $0.summary = summary
      $0.notifiedAt = notifiedAt.protoTimestamp
    }
  }
}

extension Recipient {
  var proto: Privacy_Rights_V1_Recipient {
    .with {
      $0.recipientID = id
      $0.name = name
      $0.contact = contact
      $0.purposeIds = purposeIDs
      $0.notes = notes
      $0.transferCountry = transfer?.country ?? ""
      $0.transferSafeguard = transfer?.safeguard ?? ""
      $0.notifyEmail = notify.email
      $0.notifyURL = notify.url
      $0.hasWebhookSecret_p = !notify.webhookSecret.isEmpty
      $0.createdAt = createdAt.protoTimestamp
      $0.updatedAt = updatedAt.protoTimestamp
    }
  }
}

extension RetentionPolicy {
  var proto: Privacy_Rights_V1_RetentionPolicy {
    .with {
      $0.name = name
      $0.inactivityDays = Int32(inactivityDays)
      $0.scope = scope.text
      $0.description_p = description
      $0.disabled = disabled
      $0.createdAt = createdAt.protoTimestamp
      $0.updatedAt = updatedAt.protoTimestamp
    }
  }
}

extension RetentionDue {
  var proto: Privacy_Rights_V1_RetentionDue {
    .with {
      $0.subjectID = subjectID
      $0.policyName = policyName
      $0.lastEngagementAt = lastEngagementAt.protoTimestamp
      $0.dueSince = dueSince.protoTimestamp
    }
  }
}

extension OutboxMessage {
  var proto: Privacy_Rights_V1_OutboxMessage {
    .with {
      $0.messageID = id
      $0.kind = kind.proto
      $0.requestID = requestID
      $0.recipientEmail = recipientEmail
      $0.subjectLine = subjectLine
      $0.body = body
      $0.token = token
      $0.link = link
      $0.createdAt = createdAt.protoTimestamp
      if let expiresAt { $0.expiresAt = expiresAt.protoTimestamp }
      if let ackedAt { $0.ackedAt = ackedAt.protoTimestamp }
      $0.preferenceURL = preferenceURL
      $0.recipientID = recipientID
      $0.webhookURL = webhookURL
      $0.webhookSignature = webhookSignature
      $0.language = language.rawValue
      $0.delivery = delivery.proto
    }
  }
}

extension RecipientDelivery {
  var proto: Privacy_Rights_V1_RecipientDelivery {
    .with {
      $0.recipientID = recipientID
      $0.recipientName = recipientName
      $0.channel = switch channel {
      case .email: .email
      case .webhook: .webhook
      case .manual: .manual
      }
      $0.state = switch state {
      case .queued: .queued
      case .delivered: .delivered
      case .failed: .failed
      case .manual: .manual
      }
      $0.messageID = message?.id ?? ""
      if let settledAt { $0.settledAt = settledAt.protoTimestamp }
      if let message { $0.delivery = message.delivery.proto }
    }
  }
}

extension RequestQuery {
  /// The query a filter asks for at `now`, with a stable text form of the filter so a page token
  /// only works for the filter that issued it.
  static func parse(_ proto: Privacy_Rights_V1_RequestFilter, now: Date) throws(InvalidArgument) -> (query: RequestQuery, scope: String) {
    var query = RequestQuery()
    try Validate.knownEnum(proto.status, field: "filter.status")
    try Validate.knownEnum(proto.right, field: "filter.right")
    try Validate.knownEnum(proto.origin, field: "filter.origin")
    query.status = RequestStatus(proto.status)
    query.right = Right(proto.right)
    query.origin = RequestOrigin(proto.origin)
    if !proto.subjectID.isEmpty { query.subjectID = try Validate.subjectID(proto.subjectID, field: "filter.subject_id") }
    query.openOnly = proto.openOnly
    var dueBy: Date?
    if proto.overdue { dueBy = now }
    if proto.hasDueWithinDays {
      guard proto.dueWithinDays >= 0 else { throw InvalidArgument("filter.due_within_days must not be negative") }
      guard proto.dueWithinDays <= 36_500 else { throw InvalidArgument("filter.due_within_days must be at most 36,500") }
      let limit = now.addingTimeInterval(TimeInterval(proto.dueWithinDays) * 86_400)
      dueBy = min(dueBy ?? limit, limit)
    }
    query.dueBy = dueBy
    let scope = [
      query.status?.rawValue ?? "", query.right?.rawValue ?? "", query.origin?.rawValue ?? "", query.subjectID ?? "",
      String(query.openOnly), String(proto.overdue), proto.hasDueWithinDays ? String(proto.dueWithinDays) : "",
    ].joined(separator: "|")
    return (query, scope)
  }
}
