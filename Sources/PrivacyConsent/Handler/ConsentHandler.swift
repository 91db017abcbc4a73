import Foundation
import GRPCCore
import PrivacyKit
import PrivacyProtocol

/// The gRPC edge of the consent service: checks and converts each request, calls the ledger,
/// converts the answer. Rules live in the ledger and the domain, not here.
struct ConsentHandler: Privacy_Consent_V1_ConsentService.ServiceProtocol {
  let ledger: ConsentLedger
  let links: PreferenceLinks
  let receipts: ConsentReceipts
  let askRules: AskRules
  /// On PostgreSQL: what keeps the ledger's memory in step with the other replicas. Answers
  /// given from memory are refused (UNAVAILABLE) while it has fallen behind.
  var replica: ReplicaFollower? = nil

  private typealias Service = Privacy_Consent_V1_ConsentService

  private func caller<T>(_ request: ServerRequest<T>) -> CallerIdentity {
    CallerIdentity(metadata: request.metadata)
  }

  // MARK: Purposes

  func upsertPurpose(
    request: ServerRequest<Privacy_Consent_V1_UpsertPurposeRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Consent_V1_UpsertPurposeResponse> {
    guard request.message.hasPurpose else { throw InvalidArgument("purpose is required") }
    let draft = try PurposeDraft(request.message.purpose)
    let result = try await ledger.upsertPurpose(draft, caller: caller(request))
    return ServerResponse(message: .with {
      $0.purpose = result.purpose.proto
      $0.created = result.created
      $0.noticeVersionAdded = result.noticeAdded
    })
  }

  func listPurposes(
    request: ServerRequest<Privacy_Consent_V1_ListPurposesRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Consent_V1_ListPurposesResponse> {
    let scope = "purposes"
    let page = try PageRequest(size: request.message.pageSize, token: request.message.pageToken, scope: scope)
    try replica?.requireFresh()
    let result = ledger.listPurposes(page)
    return ServerResponse(message: .with {
      $0.purposes = result.purposes.map(\.proto)
      $0.nextPageToken = result.nextCursor.map { PageRequest.token(cursor: $0, scope: scope) } ?? ""
    })
  }

  // MARK: Decisions

  func recordConsent(
    request: ServerRequest<Privacy_Consent_V1_RecordConsentRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Consent_V1_RecordConsentResponse> {
    let message = request.message
    let subjectID = try Validate.subjectID(message.subjectID)
    let purposeID = try Validate.slug(message.purposeID, field: "purpose_id")
    let decision = try Validate.requiredEnum(message.decision, field: "decision", Decision.init)
    guard message.hasEvidence else { throw InvalidArgument("evidence is required") }
    let evidence = try Evidence(message.evidence, now: ledger.now())
    let event = try await ledger.recordConsent(
      subjectID: subjectID, purposeID: purposeID, decision: decision, evidence: evidence,
      legalBasis: try optionalBasis(message.legalBasis), caller: caller(request))
    return ServerResponse(message: .with { $0.event = event.proto })
  }

  func checkConsent(
    request: ServerRequest<Privacy_Consent_V1_CheckConsentRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Consent_V1_CheckConsentResponse> {
    ServerResponse(message: try checkConsent(request.message))
  }

  /// Answered from memory: the nghttp2 transport runs it on its event loop (`synchronousMethods`).
  func checkConsent(_ message: Privacy_Consent_V1_CheckConsentRequest) throws -> Privacy_Consent_V1_CheckConsentResponse {
    let question = try ConsentQuestion(message)
    try replica?.requireFresh()
    return try ledger.checkConsent(subjectID: question.subjectID, purposeID: question.purposeID).proto
  }

  func checkConsentBatch(
    request: ServerRequest<Privacy_Consent_V1_CheckConsentBatchRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Consent_V1_CheckConsentBatchResponse> {
    let question = try ConsentBatchQuestion(request.message)
    try replica?.requireFresh()
    let answers = try ledger.checkConsent(question)
    return ServerResponse(message: .with { $0.answers = answers.map(\.proto) })
  }

  func getConsentState(
    request: ServerRequest<Privacy_Consent_V1_GetConsentStateRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Consent_V1_GetConsentStateResponse> {
    try replica?.requireFresh()
    let view = try ledger.consentState(subjectID: try Validate.subjectID(request.message.subjectID))
    let toAsk = try await askRules.purposesToAsk(subjectID: view.subjectID)
    return ServerResponse(message: .with {
      $0.purposesToAsk = toAsk
      $0.state = .with {
        $0.subjectID = view.subjectID
        $0.purposes = view.purposes.map { $0.answer.purposeState($0.purpose.id, record: $0.record) }
        $0.optInStatus = view.state.optInStatus.proto
        $0.restricted = view.state.restricted
        $0.restrictionReason = view.state.restrictionReason
        $0.erased = view.state.erased
        $0.age = view.state.age.proto
        $0.lastSequence = view.state.lastSequence
      }
    })
  }

  func listConsentEvents(
    request: ServerRequest<Privacy_Consent_V1_ListConsentEventsRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Consent_V1_ListConsentEventsResponse> {
    let message = request.message
    let subjectID = message.subjectID.isEmpty ? nil : try Validate.subjectID(message.subjectID)
    let purposeID = message.purposeID.isEmpty ? nil : try Validate.slug(message.purposeID, field: "purpose_id")
    let scope = "events|\(subjectID ?? "")|\(purposeID ?? "")"
    let page = try PageRequest(size: message.pageSize, token: message.pageToken, scope: scope)
    let after = max(try page.numericCursor(UInt64.self) ?? 0, try Validate.sequence(message.afterSequence, field: "after_sequence"))
    let events = try await ledger.events(EventQuery(subjectID: subjectID, purposeID: purposeID, after: after, limit: page.fetchLimit))
    let (items, next) = page.page(of: events) { String($0.sequence) }
    return ServerResponse(message: .with {
      $0.events = items.map(\.proto)
      $0.nextPageToken = next
    })
  }

  func listSubjects(
    request: ServerRequest<Privacy_Consent_V1_ListSubjectsRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Consent_V1_ListSubjectsResponse> {
    let filter = try SubjectFilter(request.message.filter)
    let scope = "subjects|" + filter.scopeKey
    let page = try PageRequest(size: request.message.pageSize, token: request.message.pageToken, scope: scope)
    try replica?.requireFresh()
    let result = try ledger.listSubjects(filter, page)
    return ServerResponse(message: .with {
      $0.subjects = result.subjects.map { subjectID, state in
        .with {
          $0.subjectID = subjectID
          $0.optInStatus = state.optInStatus.proto
          $0.restricted = state.restricted
          $0.erased = state.erased
          if let purposeID = filter.purposeID { $0.decision = state.decisions[purposeID]?.decision.proto ?? .unspecified }
        }
      }
      $0.nextPageToken = result.nextCursor.map { PageRequest.token(cursor: $0, scope: scope) } ?? ""
    })
  }

  func bulkUpdate(
    request: ServerRequest<Privacy_Consent_V1_BulkUpdateRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Consent_V1_BulkUpdateResponse> {
    let message = request.message
    let selector: ConsentLedger.BulkSelector
    switch message.selector {
    case .subjectIds(let list)?:
      guard !list.subjectIds.isEmpty else { throw InvalidArgument("selector.subject_ids is empty") }
      guard list.subjectIds.count <= 10_000 else { throw InvalidArgument("selector.subject_ids holds more than 10,000 ids") }
      selector = .subjects(try list.subjectIds.map { id throws(InvalidArgument) in try Validate.subjectID(id, field: "selector.subject_ids") })
    case .filter(let filter)?:
      selector = .filter(try SubjectFilter(filter))
    case nil:
      throw InvalidArgument("selector is required: subject_ids or filter")
    }
    let purposeID = try Validate.slug(message.purposeID, field: "purpose_id")
    let decision = try Validate.requiredEnum(message.decision, field: "decision", Decision.init)
    guard message.hasEvidence else { throw InvalidArgument("evidence is required") }
    let evidence = try Evidence(message.evidence, now: ledger.now())
    let reason = try Validate.reason(message.reason)
    let result = try await ledger.bulkUpdate(
      selector, purposeID: purposeID, decision: decision, legalBasis: try optionalBasis(message.legalBasis),
      evidence: evidence, reason: reason, caller: caller(request))
    return ServerResponse(message: .with {
      $0.updatedCount = UInt64(result.count)
      $0.firstSequence = result.first
      $0.lastSequence = result.last
    })
  }

  // MARK: Email opt-in

  func setEmailOptInStatus(
    request: ServerRequest<Privacy_Consent_V1_SetEmailOptInStatusRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Consent_V1_SetEmailOptInStatusResponse> {
    let message = request.message
    let subjectID = try Validate.subjectID(message.subjectID)
    let status = try Validate.requiredEnum(message.status, field: "status", OptInStatus.init)
    let setter = try Validate.requiredEnum(message.setBy, field: "set_by", OptInSetter.init)
    let evidence = try Evidence(
      message.evidence, defaultChannel: setter.defaultChannel, defaultActorKind: setter.actorKind, now: ledger.now())
    let result = try await ledger.setOptInStatus(
      subjectID: subjectID, status: status, setBy: setter, evidence: evidence, caller: caller(request))
    return ServerResponse(message: .with {
      $0.previousStatus = result.previous.proto
      $0.status = result.event == nil ? result.previous.proto : status.proto
      if let event = result.event { $0.event = event.proto }
    })
  }

  func startDoubleOptIn(
    request: ServerRequest<Privacy_Consent_V1_StartDoubleOptInRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Consent_V1_StartDoubleOptInResponse> {
    let message = request.message
    let subjectID = try Validate.subjectID(message.subjectID)
    let email = try Validate.emailAddress(message.emailAddress, field: "email_address")
    let evidence = try Evidence(message.evidence, defaultChannel: .api, now: ledger.now())
    let result = try await ledger.startDoubleOptIn(
      subjectID: subjectID, emailAddress: email, evidence: evidence, language: try MailLanguage.parse(request.message.language),
      caller: caller(request))
    return ServerResponse(message: .with {
      $0.messageID = result.messageID
      $0.expiresAt = result.expiresAt.protoTimestamp
      $0.event = result.event.proto
    })
  }

  func confirmDoubleOptIn(
    request: ServerRequest<Privacy_Consent_V1_ConfirmDoubleOptInRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Consent_V1_ConfirmDoubleOptInResponse> {
    let message = request.message
    let token = try Validate.requiredText(message.token, field: "token", maxLength: 200)
    let event = try await ledger.confirmDoubleOptIn(
      token: token, ipAddress: try Validate.ipAddress(message.ipAddress, field: "ip_address"),
      userAgent: try Validate.optionalText(message.userAgent, field: "user_agent", maxLength: 1024), caller: caller(request))
    return ServerResponse(message: .with {
      $0.subjectID = event.subjectID
      $0.event = event.proto
    })
  }

  func checkEmailEligibility(
    request: ServerRequest<Privacy_Consent_V1_CheckEmailEligibilityRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Consent_V1_CheckEmailEligibilityResponse> {
    ServerResponse(message: try checkEmailEligibility(request.message))
  }

  /// Answered from memory: the nghttp2 transport runs it on its event loop (`synchronousMethods`).
  func checkEmailEligibility(
    _ message: Privacy_Consent_V1_CheckEmailEligibilityRequest
  ) throws -> Privacy_Consent_V1_CheckEmailEligibilityResponse {
    let question = try EligibilityQuestion(message)
    try replica?.requireFresh()
    return try ledger.checkEmailEligibility(question).proto
  }

  /// The methods that answer from memory at once.
  var synchronousMethods: [SynchronousMethod] {
    [
      SynchronousMethod(Service.Method.CheckConsent.descriptor) { try self.checkConsent($0) },
      SynchronousMethod(Service.Method.CheckEmailEligibility.descriptor) { try self.checkEmailEligibility($0) },
    ]
  }

  // MARK: Mailing lists and subscriptions

  func upsertMailingList(
    request: ServerRequest<Privacy_Consent_V1_UpsertMailingListRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Consent_V1_UpsertMailingListResponse> {
    guard request.message.hasList else { throw InvalidArgument("list is required") }
    let list = request.message.list
    let result = try await ledger.upsertMailingList(
      id: try Validate.slug(list.listID, field: "list.list_id"),
      name: try Validate.requiredText(list.name, field: "list.name", maxLength: 200),
      description: try Validate.optionalText(list.description_p, field: "list.description", maxLength: 2000),
      defaultSubscribed: list.defaultSubscribed, caller: caller(request))
    return ServerResponse(message: .with {
      $0.list = result.list.proto
      $0.created = result.created
    })
  }

  func listMailingLists(
    request: ServerRequest<Privacy_Consent_V1_ListMailingListsRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Consent_V1_ListMailingListsResponse> {
    let scope = "lists"
    let page = try PageRequest(size: request.message.pageSize, token: request.message.pageToken, scope: scope)
    try replica?.requireFresh()
    let result = ledger.listMailingLists(page)
    return ServerResponse(message: .with {
      $0.lists = result.lists.map(\.proto)
      $0.nextPageToken = result.nextCursor.map { PageRequest.token(cursor: $0, scope: scope) } ?? ""
    })
  }

  func subscribe(
    request: ServerRequest<Privacy_Consent_V1_SubscribeRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Consent_V1_SubscribeResponse> {
    let message = request.message
    let event = try await setSubscription(message.subjectID, message.listID, message.evidence, message.hasEvidence, true, request)
    return ServerResponse(message: .with { if let event { $0.event = event.proto } })
  }

  func unsubscribe(
    request: ServerRequest<Privacy_Consent_V1_UnsubscribeRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Consent_V1_UnsubscribeResponse> {
    let message = request.message
    let event = try await setSubscription(message.subjectID, message.listID, message.evidence, message.hasEvidence, false, request)
    return ServerResponse(message: .with { if let event { $0.event = event.proto } })
  }

  private func setSubscription<T>(
    _ subjectID: String, _ listID: String, _ evidence: Privacy_Consent_V1_Evidence, _ hasEvidence: Bool, _ subscribed: Bool,
    _ request: ServerRequest<T>
  ) async throws -> LedgerEvent? {
    let subjectID = try Validate.subjectID(subjectID)
    let listID = try Validate.slug(listID, field: "list_id")
    guard hasEvidence else { throw InvalidArgument("evidence is required") }
    return try await ledger.setSubscription(
      subjectID: subjectID, listID: listID, subscribed: subscribed, evidence: try Evidence(evidence, now: ledger.now()),
      caller: caller(request))
  }

  func listSubscriptions(
    request: ServerRequest<Privacy_Consent_V1_ListSubscriptionsRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Consent_V1_ListSubscriptionsResponse> {
    let subjectID = try Validate.subjectID(request.message.subjectID)
    try replica?.requireFresh()
    return ServerResponse(message: .with {
      $0.subscriptions = ledger.subscriptions(subjectID: subjectID).map { entry in
        .with {
          $0.listID = entry.list.id
          $0.subscribed = entry.subscribed
          $0.explicit = entry.explicit
          $0.eventSequence = entry.sequence
        }
      }
    })
  }

  // MARK: Preference changes

  func requestPreferenceChange(
    request: ServerRequest<Privacy_Consent_V1_RequestPreferenceChangeRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Consent_V1_RequestPreferenceChangeResponse> {
    let message = request.message
    let subjectID = try Validate.subjectID(message.subjectID)
    let email = try Validate.emailAddress(message.emailAddress, field: "email_address")
    guard (1...100).contains(message.changes.count) else { throw InvalidArgument("changes must hold 1-100 changes") }
    var changes: [PreferenceChangeItem] = []
    for (index, change) in message.changes.enumerated() {
      changes.append(try PreferenceChangeItem(change, index: index))
    }
    let evidence = try Evidence(message.evidence, defaultChannel: .preferencePage, defaultActorKind: .subject, now: ledger.now())
    if evidence.actorKind == .guardian && evidence.actor.isEmpty {
      throw InvalidArgument("evidence.actor must name the guardian: the confirmation goes to the guardian, and the evidence names them")
    }
    let result = try await ledger.requestPreferenceChange(
      subjectID: subjectID, emailAddress: email, changes: changes, evidence: evidence, language: try MailLanguage.parse(message.language),
      caller: caller(request))
    return ServerResponse(message: .with {
      $0.changeID = result.changeID
      $0.messageID = result.messageID
      $0.expiresAt = result.expiresAt.protoTimestamp
    })
  }

  func confirmPreferenceChange(
    request: ServerRequest<Privacy_Consent_V1_ConfirmPreferenceChangeRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Consent_V1_ConfirmPreferenceChangeResponse> {
    let message = request.message
    let token = try Validate.requiredText(message.token, field: "token", maxLength: 200)
    let result = try await ledger.confirmPreferenceChange(
      token: token, ipAddress: try Validate.ipAddress(message.ipAddress, field: "ip_address"),
      userAgent: try Validate.optionalText(message.userAgent, field: "user_agent", maxLength: 1024), caller: caller(request))
    return ServerResponse(message: .with {
      $0.changeID = result.changeID
      $0.subjectID = result.subjectID
      $0.events = result.events.map(\.proto)
    })
  }

  // MARK: Restriction and erasure

  func setProcessingRestriction(
    request: ServerRequest<Privacy_Consent_V1_SetProcessingRestrictionRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Consent_V1_SetProcessingRestrictionResponse> {
    let message = request.message
    let subjectID = try Validate.subjectID(message.subjectID)
    let reason = try Validate.reason(message.reason)
    let evidence = try Evidence(message.evidence, defaultChannel: .manual, now: ledger.now())
    let event = try await ledger.setRestriction(
      subjectID: subjectID, restricted: message.restricted, reason: reason, evidence: evidence, caller: caller(request))
    return ServerResponse(message: .with { if let event { $0.event = event.proto } })
  }

  func eraseSubject(
    request: ServerRequest<Privacy_Consent_V1_EraseSubjectRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Consent_V1_EraseSubjectResponse> {
    let subjectID = try Validate.subjectID(request.message.subjectID)
    let reason = try Validate.reason(request.message.reason)
    let outcome = try await ledger.eraseSubject(subjectID: subjectID, reason: reason, caller: caller(request))
    return ServerResponse(message: .with {
      $0.alreadyErased = outcome.alreadyErased
      $0.purposesWithdrawn = UInt32(outcome.purposesWithdrawn)
      $0.eventsScrubbed = UInt32(outcome.eventsScrubbed)
      $0.outboxMessagesScrubbed = UInt32(outcome.outboxMessagesScrubbed)
      if let event = outcome.event { $0.event = event.proto }
    })
  }

  // MARK: Change feed and verification

  func watchConsentEvents(
    request: ServerRequest<Privacy_Consent_V1_WatchConsentEventsRequest>, context: ServerContext
  ) async throws -> StreamingServerResponse<Privacy_Consent_V1_WatchConsentEventsResponse> {
    var purposes = Set<String>()
    for id in request.message.purposeIds {
      purposes.insert(try Validate.slug(id, field: "purpose_ids"))
    }
    let start = try Validate.sequence(request.message.afterSequence, field: "after_sequence")
    let heartbeat = try Self.heartbeat(request.message.heartbeatMilliseconds)
    if !request.message.afterHash.isEmpty {
      guard start > 0 else { throw InvalidArgument("after_hash needs after_sequence") }
      guard try await ledger.event(sequence: start)?.hash == request.message.afterHash else {
        throw ConsentError.ledgerDiverged(sequence: start)
      }
    }
    let ledger = self.ledger
    let replica = self.replica
    let wanted = purposes
    return StreamingServerResponse { writer in
      var cursor = start
      while true {
        let batch = try await ledger.events(EventQuery(after: cursor, limit: 500))
        for event in batch where wanted.isEmpty || wanted.contains(event.purposeID) {
          try await writer.write(.with { $0.event = event.proto })
        }
        if let last = batch.last {
          cursor = last.sequence
          continue
        }
        guard let heartbeat else {
          if await ledger.waitForEvents(after: cursor) { continue }
          break
        }
        // Caught up: said only while this replica is in step with its database.
        if replica?.isFresh ?? true {
          try await writer.write(.with {
            $0.caughtUp = .with {
              $0.sequence = cursor
              $0.catalogueDigest = ledger.catalogueDigest
            }
          })
        }
        if await ledger.waitForEvents(after: cursor, atMost: heartbeat) == .closed { break }
      }
      return [:]
    }
  }

  /// The period of WatchConsentEvents markers; nil for none.
  static func heartbeat(_ milliseconds: UInt32) throws(InvalidArgument) -> Duration? {
    if milliseconds == 0 { return nil }
    guard (100...60_000).contains(milliseconds) else {
      throw InvalidArgument("heartbeat_milliseconds must be 0 or between 100 and 60000, got \(milliseconds)")
    }
    return .milliseconds(milliseconds)
  }

  func verifyLedger(
    request: ServerRequest<Privacy_Consent_V1_VerifyLedgerRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Consent_V1_VerifyLedgerResponse> {
    let subjectID = request.message.subjectID.isEmpty ? nil : try Validate.subjectID(request.message.subjectID)
    let result = try await ledger.verify(subjectID: subjectID)
    return ServerResponse(message: .with { $0.verification = result.proto })
  }

  // MARK: Outbox

  func listOutbox(
    request: ServerRequest<Privacy_Consent_V1_ListOutboxRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Consent_V1_ListOutboxResponse> {
    let message = request.message
    let filter = OutboxFilter(includeAcked: message.includeAcked, failedOnly: message.failedOnly)
    let page = try PageRequest(size: message.pageSize, token: message.pageToken, scope: "outbox|\(filter)")
    let after = try page.numericCursor(Int64.self) ?? 0
    let messages = try await ledger.outbox(after: after, filter: filter, limit: page.fetchLimit)
    let (items, next) = page.page(of: messages) { String($0.position) }
    return ServerResponse(message: .with {
      $0.messages = items.map(\.proto)
      $0.nextPageToken = next
    })
  }

  func ackOutbox(
    request: ServerRequest<Privacy_Consent_V1_AckOutboxRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Consent_V1_AckOutboxResponse> {
    let acked = try await ledger.ackOutbox(ids: try Validate.messageIDs(request.message.messageIds))
    return ServerResponse(message: .with { $0.ackedCount = UInt32(acked) })
  }

  func leaseOutbox(
    request: ServerRequest<Privacy_Consent_V1_LeaseOutboxRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Consent_V1_LeaseOutboxResponse> {
    let lease = try OutboxLease(maxMessages: request.message.maxMessages, leaseSeconds: request.message.leaseSeconds)
    let messages = try await ledger.leaseOutbox(lease)
    return ServerResponse(message: .with { $0.messages = messages.map(\.proto) })
  }

  func reportOutboxFailure(
    request: ServerRequest<Privacy_Consent_V1_ReportOutboxFailureRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Consent_V1_ReportOutboxFailureResponse> {
    let report = request.message
    let message = try await ledger.reportOutboxFailure(
      try OutboxFailureReport(
        messageID: report.messageID, failure: report.failure, permanent: report.permanent,
        retryAt: try report.retryAt.checkedDate(isSet: report.hasRetryAt, field: "retry_at"), now: ledger.now()))
    return ServerResponse(message: .with { $0.message = message.proto })
  }

  // MARK: Preference links

  func createPreferenceLink(
    request: ServerRequest<Privacy_Consent_V1_CreatePreferenceLinkRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Consent_V1_CreatePreferenceLinkResponse> {
    let minted = try await links.mint(subjectID: try Validate.subjectID(request.message.subjectID))
    return ServerResponse(message: .with {
      $0.url = minted.url
      $0.unsubscribeURL = minted.unsubscribeURL
      $0.listUnsubscribe = minted.listUnsubscribe
      $0.listUnsubscribePost = MintedPreferenceLink.listUnsubscribePost
      $0.expiresAt = .init(date: minted.expiresAt)
    })
  }

  func resolvePreferenceLink(
    request: ServerRequest<Privacy_Consent_V1_ResolvePreferenceLinkRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Consent_V1_ResolvePreferenceLinkResponse> {
    let token = try Validate.requiredText(request.message.token, field: "token", maxLength: 128)
    let link = try await links.resolve(token: token)
    return ServerResponse(message: .with {
      $0.subjectID = link.subjectID
      $0.expiresAt = .init(date: link.expiresAt)
    })
  }

  func revokePreferenceLinks(
    request: ServerRequest<Privacy_Consent_V1_RevokePreferenceLinksRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Consent_V1_RevokePreferenceLinksResponse> {
    let revoked = try await links.revoke(subjectID: try Validate.subjectID(request.message.subjectID))
    return ServerResponse(message: .with { $0.revoked = UInt32(clamping: revoked) })
  }

  // MARK: Subject attributes

  func setSubjectAttributes(
    request: ServerRequest<Privacy_Consent_V1_SetSubjectAttributesRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Consent_V1_SetSubjectAttributesResponse> {
    let subjectID = try Validate.subjectID(request.message.subjectID)
    let attributes = request.message.attributes
    guard attributes.count <= SubjectAttributes.maxCount else {
      throw InvalidArgument("attributes holds at most \(SubjectAttributes.maxCount) attributes")
    }
    for (name, value) in attributes {
      guard AskCondition.isAttributeName(name) else { throw InvalidArgument("attribute names match [a-z][a-z0-9_]{0,63}") }
      _ = try Validate.optionalText(value, field: "attributes[\(name)]", maxLength: 200)
    }
    let toAsk = try await askRules.setAttributes(subjectID: subjectID, attributes)
    return ServerResponse(message: .with { $0.purposesToAsk = toAsk })
  }

  // MARK: Receipts

  func getConsentReceipt(
    request: ServerRequest<Privacy_Consent_V1_GetConsentReceiptRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Consent_V1_GetConsentReceiptResponse> {
    let subjectID = try Validate.subjectID(request.message.subjectID)
    guard request.message.sequence > 0 else { throw InvalidArgument("sequence must be a ledger sequence (1 or more)") }
    let jws = try await receipts.receipt(subjectID: subjectID, sequence: request.message.sequence)
    return ServerResponse(message: .with { $0.jws = jws })
  }

  func verifyReceipt(
    request: ServerRequest<Privacy_Consent_V1_VerifyReceiptRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Consent_V1_VerifyReceiptResponse> {
    let jws = try Validate.requiredText(request.message.jws, field: "jws", maxLength: 16 * 1024)
    let verdict = try await receipts.verify(jws)
    return ServerResponse(message: .with {
      $0.valid = verdict.valid
      $0.problem = verdict.problem
    })
  }

  func getReceiptKeys(
    request: ServerRequest<Privacy_Consent_V1_GetReceiptKeysRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Consent_V1_GetReceiptKeysResponse> {
    let jwks = try receipts.keys()
    return ServerResponse(message: .with { $0.jwks = jwks })
  }

  private func optionalBasis(_ proto: Privacy_Consent_V1_LegalBasis) throws(InvalidArgument) -> LegalBasis? {
    try Validate.knownEnum(proto, field: "legal_basis")
    return LegalBasis(proto)
  }
}

extension OptInSetter {
  /// The channel recorded when a request gives no evidence.
  var defaultChannel: Channel {
    switch self {
    case .user: .manual
    case .contact: .preferencePage
    case .webform: .webform
    }
  }

  var actorKind: ActorKind {
    self == .user ? .staff : .subject
  }
}
