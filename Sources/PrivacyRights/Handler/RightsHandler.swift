import Foundation
import GRPCCore
import PrivacyKit
import PrivacyProtocol

/// The gRPC edge of the subject-rights service: checks and converts each request, calls the
/// desk, converts the answer. Rules live in the desk and the domain, not here.
struct RightsHandler: Privacy_Rights_V1_SubjectRightsService.ServiceProtocol {
  let desk: RightsDesk

  private func caller<T>(_ request: ServerRequest<T>) -> CallerIdentity {
    CallerIdentity(metadata: request.metadata)
  }

  private func view(_ request: SubjectRequest) -> Privacy_Rights_V1_DataSubjectRequest {
    request.proto(now: desk.now())
  }

  // MARK: Intake and verification

  func openRequest(
    request: ServerRequest<Privacy_Rights_V1_OpenRequestRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Rights_V1_OpenRequestResponse> {
    let draft = try RequestDraft(request.message, now: desk.now())
    let result = try await desk.openRequest(draft, caller: caller(request))
    return ServerResponse(message: .with {
      $0.request = view(result.request)
      $0.created = result.created
    })
  }

  func startVerification(
    request: ServerRequest<Privacy_Rights_V1_StartVerificationRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Rights_V1_StartVerificationResponse> {
    let id = try Validate.requestID(request.message.requestID)
    let link = try Validate.preferenceURL(request.message.preferenceURL)
    let result = try await desk.startVerification(requestID: id, preferenceURL: link, caller: caller(request))
    return ServerResponse(message: .with {
      $0.request = view(result.request)
      $0.messageID = result.messageID
      $0.expiresAt = result.expiresAt.protoTimestamp
    })
  }

  func confirmVerification(
    request: ServerRequest<Privacy_Rights_V1_ConfirmVerificationRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Rights_V1_ConfirmVerificationResponse> {
    let id = try Validate.requestID(request.message.requestID)
    let token = request.message.token.trimmingWhitespace
    guard !token.isEmpty else { throw InvalidArgument("token is required") }
    guard token.utf8.count <= 200 else { throw InvalidArgument("token must be at most 200 characters") }
    let result = try await desk.confirmVerification(requestID: id, token: token, caller: caller(request))
    return ServerResponse(message: .with { $0.request = view(result) })
  }

  func verifyManually(
    request: ServerRequest<Privacy_Rights_V1_VerifyManuallyRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Rights_V1_VerifyManuallyResponse> {
    let id = try Validate.requestID(request.message.requestID)
    let note = try Validate.requiredText(request.message.note, field: "note", maxLength: 2000)
    let result = try await desk.verifyManually(requestID: id, note: note, caller: caller(request))
    return ServerResponse(message: .with { $0.request = view(result) })
  }

  func identifySubject(
    request: ServerRequest<Privacy_Rights_V1_IdentifySubjectRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Rights_V1_IdentifySubjectResponse> {
    let id = try Validate.requestID(request.message.requestID)
    let subjectID = try Validate.subjectID(request.message.subjectID)
    let result = try await desk.identifySubject(requestID: id, subjectID: subjectID, caller: caller(request))
    return ServerResponse(message: .with { $0.request = view(result) })
  }

  func extendDeadline(
    request: ServerRequest<Privacy_Rights_V1_ExtendDeadlineRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Rights_V1_ExtendDeadlineResponse> {
    let message = request.message
    let id = try Validate.requestID(message.requestID)
    guard message.months == 1 || message.months == 2 else { throw InvalidArgument("months must be 1 or 2") }
    let reason = try Validate.requiredText(message.reason, field: "reason", maxLength: 2000)
    let link = try Validate.preferenceURL(message.preferenceURL)
    let result = try await desk.extendDeadline(
      requestID: id, months: Int(message.months), reason: reason, preferenceURL: link, caller: caller(request))
    return ServerResponse(message: .with { $0.request = view(result) })
  }

  // MARK: Reading

  func getRequest(
    request: ServerRequest<Privacy_Rights_V1_GetRequestRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Rights_V1_GetRequestResponse> {
    let id = try Validate.requestID(request.message.requestID)
    let result = try await desk.request(id: id)
    return ServerResponse(message: .with { $0.request = view(result) })
  }

  func listRequests(
    request: ServerRequest<Privacy_Rights_V1_ListRequestsRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Rights_V1_ListRequestsResponse> {
    let message = request.message
    let now = desk.now()
    let (query, filterScope) = try RequestQuery.parse(message.filter, now: now)
    let scope = "requests|" + filterScope
    let page = try PageRequest(size: message.pageSize, token: message.pageToken, scope: scope)
    let cursor = try page.cursor.map { text throws(InvalidArgument) in
      let parts = text.split(separator: "|", maxSplits: 1, omittingEmptySubsequences: false)
      guard parts.count == 2, let due = Int64(parts[0]), !parts[1].isEmpty else {
        throw InvalidArgument("page_token is not valid for this request")
      }
      return RequestCursor(dueAt: Microseconds(value: due), requestID: String(parts[1]))
    }
    let requests = try await desk.requests(query, after: cursor, limit: page.fetchLimit)
    let (items, next) = page.page(of: requests) { "\(Microseconds($0.dueAt).value)|\($0.id)" }
    return ServerResponse(message: .with {
      $0.requests = items.map { $0.proto(now: now) }
      $0.nextPageToken = next
    })
  }

  // MARK: Execution

  func startProcessing(
    request: ServerRequest<Privacy_Rights_V1_StartProcessingRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Rights_V1_StartProcessingResponse> {
    let id = try Validate.requestID(request.message.requestID)
    let result = try await desk.startProcessing(requestID: id, caller: caller(request))
    return ServerResponse(message: .with { $0.request = view(result) })
  }

  func recordStep(
    request: ServerRequest<Privacy_Rights_V1_RecordStepRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Rights_V1_RecordStepResponse> {
    let message = request.message
    let id = try Validate.requestID(message.requestID)
    let step = try Validate.slug(message.step, field: "step")
    let status = try Validate.requiredEnum(message.status, field: "status", StepStatus.init)
    let detail = try Check.text(message.detail, field: "detail", maxLength: 8000)
    let error = try Check.text(message.error, field: "error", maxLength: 8000)
    if status == .failed && error.trimmingWhitespace.isEmpty { throw InvalidArgument("error is required with status FAILED") }
    if status != .failed && !error.isEmpty { throw InvalidArgument("error is only allowed with status FAILED") }
    let result = try await desk.recordStep(
      requestID: id, step: step, status: status, detail: detail, error: error, caller: caller(request))
    return ServerResponse(message: .with { $0.step = result.proto })
  }

  func completeRequest(
    request: ServerRequest<Privacy_Rights_V1_CompleteRequestRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Rights_V1_CompleteRequestResponse> {
    let message = request.message
    let id = try Validate.requestID(message.requestID)
    guard !message.outcome.isEmpty else { throw InvalidArgument("outcome is required") }
    guard message.outcome.utf8.count <= 65_536 else { throw InvalidArgument("outcome must be at most 65,536 bytes") }
    let artifact = message.hasArtifact ? try ArtifactUpload(message.artifact) : nil
    let now = desk.now()
    var notifications: [NotificationDraft] = []
    for (index, notification) in message.recipientsNotified.enumerated() {
      let field = "recipients_notified[\(index)]"
      notifications.append(
        NotificationDraft(
          recipientID: try Validate.slug(notification.recipientID, field: "\(field).recipient_id"),
          summary: try Validate.requiredText(notification.summary, field: "\(field).summary", maxLength: 2000),
          notifiedAt: try Check.pastTimestamp(
            notification.notifiedAt, isSet: notification.hasNotifiedAt, field: "\(field).notified_at", now: now)))
    }
    let link = try Validate.preferenceURL(message.preferenceURL)
    let result = try await desk.completeRequest(
      requestID: id, outcome: message.outcome, artifact: artifact, notifications: notifications, preferenceURL: link,
      caller: caller(request))
    return ServerResponse(message: .with { $0.request = view(result) })
  }

  func rejectRequest(
    request: ServerRequest<Privacy_Rights_V1_RejectRequestRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Rights_V1_RejectRequestResponse> {
    let message = request.message
    let id = try Validate.requestID(message.requestID)
    let reason = try Validate.requiredText(message.reason, field: "reason", maxLength: 2000)
    try Validate.knownEnum(message.grounds, field: "grounds")
    let link = try Validate.preferenceURL(message.preferenceURL)
    let result = try await desk.rejectRequest(
      requestID: id, reason: reason, grounds: RejectionGrounds(message.grounds), preferenceURL: link, caller: caller(request))
    return ServerResponse(message: .with { $0.request = view(result) })
  }

  func getArtifact(
    request: ServerRequest<Privacy_Rights_V1_GetArtifactRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Rights_V1_GetArtifactResponse> {
    let id = try Validate.requestID(request.message.requestID)
    let token = request.message.downloadToken
    let result = try await desk.artifact(requestID: id, downloadToken: token.isEmpty ? nil : token)
    return ServerResponse(message: .with { $0.artifact = result.info.artifactProto(content: result.content) })
  }

  // MARK: Recipients

  func upsertRecipient(
    request: ServerRequest<Privacy_Rights_V1_UpsertRecipientRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Rights_V1_UpsertRecipientResponse> {
    let message = request.message
    let id = try Validate.slug(message.recipientID, field: "recipient_id")
    let name = try Validate.requiredText(message.name, field: "name", maxLength: 200)
    let contact = try Validate.requiredText(message.contact, field: "contact", maxLength: 500)
    var purposes: [String] = []
    for purpose in message.purposeIds { purposes.append(try Validate.slug(purpose, field: "purpose_ids")) }
    let notes = try Validate.optionalText(message.notes, field: "notes", maxLength: 2000)
    var transfer: ThirdCountryTransfer?
    switch (message.transferCountry.isEmpty, message.transferSafeguard.isEmpty) {
    case (true, true): transfer = nil
    case (false, false):
      transfer = ThirdCountryTransfer(
        country: try Validate.countryCode(message.transferCountry, field: "transfer_country"),
        safeguard: try Validate.requiredText(message.transferSafeguard, field: "transfer_safeguard", maxLength: 500))
    case (false, true): throw InvalidArgument("transfer_safeguard is required with transfer_country")
    case (true, false): throw InvalidArgument("transfer_safeguard needs transfer_country")
    }
    let notifyEmail = message.notifyEmail.isEmpty ? "" : try Validate.emailAddress(message.notifyEmail, field: "notify_email")
    let notifyURL = try Validate.webhookURL(message.notifyURL, field: "notify_url")
    if message.rotateWebhookSecret && notifyURL.isEmpty { throw InvalidArgument("rotate_webhook_secret needs notify_url") }
    let result = try await desk.upsertRecipient(
      id: id, name: name, contact: contact, purposeIDs: purposes, notes: notes, transfer: transfer, notifyEmail: notifyEmail,
      notifyURL: notifyURL, rotateWebhookSecret: message.rotateWebhookSecret, caller: caller(request))
    return ServerResponse(message: .with {
      $0.recipient = result.recipient.proto
      $0.created = result.created
      $0.webhookSecret = result.webhookSecret ?? ""
    })
  }

  func notifyRecipients(
    request: ServerRequest<Privacy_Rights_V1_NotifyRecipientsRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Rights_V1_NotifyRecipientsResponse> {
    let message = request.message
    let requestID = try Validate.requestID(message.requestID)
    guard (1...100).contains(message.notices.count) else { throw InvalidArgument("notices must hold 1-100 notices") }
    var drafts: [RecipientNoticeDraft] = []
    for (index, notice) in message.notices.enumerated() {
      guard notice.fields.count <= 200 else { throw InvalidArgument("notices[\(index)].fields holds more than 200 names") }
      var fields: [String] = []
      for field in notice.fields { fields.append(try Validate.fieldName(field, field: "notices[\(index)].fields")) }
      drafts.append(RecipientNoticeDraft(
        recipientID: try Validate.slug(notice.recipientID, field: "notices[\(index)].recipient_id"),
        summary: try Validate.requiredText(notice.summary, field: "notices[\(index)].summary", maxLength: 2000), fields: fields))
    }
    let deliveries = try await desk.notifyRecipients(requestID: requestID, notices: drafts)
    return ServerResponse(message: .with { $0.deliveries = deliveries.map(\.proto) })
  }

  func listRecipients(
    request: ServerRequest<Privacy_Rights_V1_ListRecipientsRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Rights_V1_ListRecipientsResponse> {
    let message = request.message
    let purposeID = message.purposeID.isEmpty ? nil : try Validate.slug(message.purposeID, field: "purpose_id")
    let scope = "recipients|\(purposeID ?? "")"
    let page = try PageRequest(size: message.pageSize, token: message.pageToken, scope: scope)
    let recipients = try await desk.recipients(purposeID: purposeID, after: page.cursor, limit: page.fetchLimit)
    let (items, next) = page.page(of: recipients) { $0.id }
    return ServerResponse(message: .with {
      $0.recipients = items.map(\.proto)
      $0.nextPageToken = next
    })
  }

  // MARK: Retention

  func upsertRetentionPolicy(
    request: ServerRequest<Privacy_Rights_V1_UpsertRetentionPolicyRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Rights_V1_UpsertRetentionPolicyResponse> {
    let message = request.message
    let name = try Validate.slug(message.name, field: "name")
    guard (1...RetentionPolicy.maximumDays).contains(Int(message.inactivityDays)) else {
      throw InvalidArgument("inactivity_days must be 1-36,500")
    }
    let scope = try RetentionScope(parsing: message.scope)
    let description = try Validate.optionalText(message.description_p, field: "description", maxLength: 2000)
    let result = try await desk.upsertRetentionPolicy(
      name: name, inactivityDays: Int(message.inactivityDays), scope: scope, description: description,
      disabled: message.disabled, caller: caller(request))
    return ServerResponse(message: .with {
      $0.policy = result.policy.proto
      $0.created = result.created
    })
  }

  func listRetentionPolicies(
    request: ServerRequest<Privacy_Rights_V1_ListRetentionPoliciesRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Rights_V1_ListRetentionPoliciesResponse> {
    let scope = "policies"
    let page = try PageRequest(size: request.message.pageSize, token: request.message.pageToken, scope: scope)
    let policies = try await desk.retentionPolicies(after: page.cursor, limit: page.fetchLimit)
    let (items, next) = page.page(of: policies) { $0.name }
    return ServerResponse(message: .with {
      $0.policies = items.map(\.proto)
      $0.nextPageToken = next
    })
  }

  func recordEngagement(
    request: ServerRequest<Privacy_Rights_V1_RecordEngagementRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Rights_V1_RecordEngagementResponse> {
    let message = request.message
    let subjectID = try Validate.subjectID(message.subjectID)
    let at = try Check.pastTimestamp(message.at, isSet: message.hasAt, field: "at", now: desk.now())
    let result = try await desk.recordEngagement(subjectID: subjectID, at: at, caller: caller(request))
    return ServerResponse(message: .with {
      $0.lastEngagementAt = result.last.protoTimestamp
      $0.updated = result.updated
    })
  }

  func listDueForRetention(
    request: ServerRequest<Privacy_Rights_V1_ListDueForRetentionRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Rights_V1_ListDueForRetentionResponse> {
    let message = request.message
    var now: Date?
    if message.hasNow {
      guard message.now.isWellFormed else { throw InvalidArgument("now is not a valid timestamp") }
      now = message.now.date.microsecondPrecision
    }
    // A token carries the instant of its first page, so an unset `now` pages over one instant.
    let scope = "retention|" + (now.map { String(Microseconds($0).value) } ?? "clock")
    let page = try PageRequest(size: message.pageSize, token: message.pageToken, scope: scope)
    var cursor: RetentionCursor?
    if let text = page.cursor {
      let parts = text.split(separator: "|", maxSplits: 2, omittingEmptySubsequences: false)
      guard parts.count == 3, let at = Int64(parts[0]), let due = Int64(parts[1]), !parts[2].isEmpty else {
        throw InvalidArgument("page_token is not valid for this request")
      }
      now = Microseconds(value: at).date
      cursor = RetentionCursor(dueSince: Microseconds(value: due), subjectID: String(parts[2]))
    }
    let instant = now ?? desk.now().microsecondPrecision
    let due = try await desk.dueForRetention(now: instant, after: cursor, limit: page.fetchLimit)
    let (items, next) = page.page(of: due) { "\(Microseconds(instant).value)|\(Microseconds($0.dueSince).value)|\($0.subjectID)" }
    return ServerResponse(message: .with {
      $0.due = items.map(\.proto)
      $0.nextPageToken = next
    })
  }

  func listEngagements(
    request: ServerRequest<Privacy_Rights_V1_ListEngagementsRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Rights_V1_ListEngagementsResponse> {
    let message = request.message
    guard message.hasEngagedUntil, message.engagedUntil.isWellFormed else {
      throw InvalidArgument("engaged_until is required and must be a valid timestamp")
    }
    if message.hasEngagedAfter, !message.engagedAfter.isWellFormed { throw InvalidArgument("engaged_after is not a valid timestamp") }
    let until = message.engagedUntil.date.microsecondPrecision
    let after = message.hasEngagedAfter ? message.engagedAfter.date.microsecondPrecision : nil
    let scope = "engagements|\(after.map { String(Microseconds($0).value) } ?? "")|\(Microseconds(until).value)"
    let page = try PageRequest(size: message.pageSize, token: message.pageToken, scope: scope)
    var cursor: EngagementCursor?
    if let text = page.cursor {
      let parts = text.split(separator: "|", maxSplits: 1, omittingEmptySubsequences: false)
      guard parts.count == 2, let at = Int64(parts[0]), !parts[1].isEmpty else {
        throw InvalidArgument("page_token is not valid for this request")
      }
      cursor = EngagementCursor(at: Microseconds(value: at), subjectID: String(parts[1]))
    }
    let found = try await desk.engagements(after: after, until: until, cursor: cursor, limit: page.fetchLimit)
    let (items, next) = page.page(of: found) { "\(Microseconds($0.at).value)|\($0.subjectID)" }
    return ServerResponse(message: .with {
      $0.engagements = items.map { item in
        .with {
          $0.subjectID = item.subjectID
          $0.lastEngagementAt = item.at.protoTimestamp
        }
      }
      $0.nextPageToken = next
    })
  }

  // MARK: Outbox

  func listOutbox(
    request: ServerRequest<Privacy_Rights_V1_ListOutboxRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Rights_V1_ListOutboxResponse> {
    let message = request.message
    let filter = OutboxFilter(includeAcked: message.includeAcked, failedOnly: message.failedOnly)
    let page = try PageRequest(size: message.pageSize, token: message.pageToken, scope: "outbox|\(filter)")
    let after = try page.numericCursor(Int64.self) ?? 0
    let messages = try await desk.outbox(after: after, filter: filter, limit: page.fetchLimit)
    let (items, next) = page.page(of: messages) { String($0.position) }
    return ServerResponse(message: .with {
      $0.messages = items.map(\.proto)
      $0.nextPageToken = next
    })
  }

  func ackOutbox(
    request: ServerRequest<Privacy_Rights_V1_AckOutboxRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Rights_V1_AckOutboxResponse> {
    let acked = try await desk.ackOutbox(ids: try Validate.messageIDs(request.message.messageIds))
    return ServerResponse(message: .with { $0.ackedCount = UInt32(acked) })
  }

  func leaseOutbox(
    request: ServerRequest<Privacy_Rights_V1_LeaseOutboxRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Rights_V1_LeaseOutboxResponse> {
    let lease = try OutboxLease(maxMessages: request.message.maxMessages, leaseSeconds: request.message.leaseSeconds)
    let messages = try await desk.leaseOutbox(lease)
    return ServerResponse(message: .with { $0.messages = messages.map(\.proto) })
  }

  func reportOutboxFailure(
    request: ServerRequest<Privacy_Rights_V1_ReportOutboxFailureRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Rights_V1_ReportOutboxFailureResponse> {
    let report = request.message
    let message = try await desk.reportOutboxFailure(
      try OutboxFailureReport(
        messageID: report.messageID, failure: report.failure, permanent: report.permanent,
        retryAt: try report.retryAt.checkedDate(isSet: report.hasRetryAt, field: "retry_at"), now: desk.now()))
    return ServerResponse(message: .with { $0.message = message.proto })
  }
}
