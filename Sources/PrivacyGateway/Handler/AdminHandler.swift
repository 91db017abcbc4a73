import Foundation
import GRPCCore
import PrivacyKit
import PrivacyProtocol

/// AdminService: identity, audit and backend health, and the workflows that span backends
/// (CreateContact, WithdrawConsent, Stop/ResumeProcessing, ExecuteRequest, RunRetentionSweep,
/// in `Workflows/`), each through authentication, the method policy and the audit log like every
/// other call.
struct AdminHandler: Privacy_Gateway_V1_AdminService.ServiceProtocol {
  let gateway: Gateway

  private typealias Method = Privacy_Gateway_V1_AdminService.Method

  // MARK: Identity

  func whoAmI(
    request: ServerRequest<Privacy_Gateway_V1_WhoAmIRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Gateway_V1_WhoAmIResponse> {
    try await gateway.unary(request, method: Method.WhoAmI.descriptor) { _, call in
      Gateway.Answer(.init(call.principal, role: call.role))
    }
  }

  // MARK: Audit

  func listAudit(
    request: ServerRequest<Privacy_Gateway_V1_ListAuditRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Gateway_V1_ListAuditResponse> {
    try await gateway.unary(request, method: Method.ListAudit.descriptor) { message, _ in
      var query = try AuditQuery(message)
      let scope = "audit|" + query.scopeKey
      let page = try PageRequest(size: message.pageSize, token: message.pageToken, scope: scope)
      query.before = try page.numericCursor(UInt64.self)
      query.limit = page.fetchLimit
      let entries = try await gateway.audit.entries(query)
      let (items, next) = page.page(of: entries) { String($0.sequence) }
      return Gateway.Answer(.with {
        $0.entries = items.map(\.proto)
        $0.nextPageToken = next
      })
    }
  }

  func verifyAudit(
    request: ServerRequest<Privacy_Gateway_V1_VerifyAuditRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Gateway_V1_VerifyAuditResponse> {
    try await gateway.unary(request, method: Method.VerifyAudit.descriptor) { message, _ in
      guard message.checkpoints.count <= 10_000 else { throw InvalidArgument("at most 10,000 checkpoints") }
      let checkpoints = try message.checkpoints.map { checkpoint throws(InvalidArgument) in try AuditCheckpoint(checkpoint) }
      let verification = try await gateway.audit.verify(checkpoints: checkpoints)
      return Gateway.Answer(.with { $0.verification = verification.proto })
    }
  }

  func listAuditCheckpoints(
    request: ServerRequest<Privacy_Gateway_V1_ListAuditCheckpointsRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Gateway_V1_ListAuditCheckpointsResponse> {
    try await gateway.unary(request, method: Method.ListAuditCheckpoints.descriptor) { message, _ in
      let page = try PageRequest(size: message.pageSize, token: message.pageToken, scope: "audit-checkpoints")
      let after = try page.numericCursor(UInt64.self) ?? 0
      let checkpoints = try await gateway.audit.checkpoints(after: after, limit: page.fetchLimit)
      let (items, next) = page.page(of: checkpoints) { String($0.sequence) }
      return Gateway.Answer(.with {
        $0.checkpoints = items.map(\.proto)
        $0.nextPageToken = next
      })
    }
  }

  // MARK: Backend health

  func getBackendHealth(
    request: ServerRequest<Privacy_Gateway_V1_GetBackendHealthRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Gateway_V1_GetBackendHealthResponse> {
    try await gateway.unary(request, method: Method.GetBackendHealth.descriptor) { _, call in
      var timeout = Duration.seconds(2)
      if let deadline = call.deadline { timeout = min(timeout, max(.zero, deadline - .now)) }
      let limit = timeout
      let checkedAt = Date()
      let results = await withTaskGroup(of: (Int, Privacy_Gateway_V1_BackendHealth).self) { group in
        for (index, backend) in gateway.backends.all.enumerated() {
          group.addTask {
            let (outcome, latency) = await backend.health(timeout: limit)
            return (index, .with {
              $0.name = backend.kind.rawValue
              $0.address = backend.address.description
              switch outcome {
              case .serving: $0.status = .serving
              case .notServing:
                $0.status = .notServing
                $0.error = "the backend reports NOT_SERVING"
              case .unreachable(let why):
                $0.status = .unreachable
                $0.error = why
              }
              if let latency { $0.latency = .init(rounding: latency) }
            })
          }
        }
        var results: [(Int, Privacy_Gateway_V1_BackendHealth)] = []
        for await result in group { results.append(result) }
        return results.sorted { $0.0 < $1.0 }.map(\.1)
      }
      return Gateway.Answer(.with {
        $0.backends = results
        $0.checkedAt = checkedAt.protoTimestamp
        if let copy = gateway.consentCopy { $0.consentCopy = copy.health }
      })
    }
  }

  // MARK: Workflows

  func createContact(
    request: ServerRequest<Privacy_Gateway_V1_CreateContactRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Gateway_V1_CreateContactResponse> {
    try await gateway.unary(request, method: Method.CreateContact.descriptor, budget: .workflow) { message, call in
      Gateway.Answer(try await ContactCreation(context: WorkflowContext(gateway: gateway, call: call)).create(message))
    }
  }

  func withdrawConsent(
    request: ServerRequest<Privacy_Gateway_V1_WithdrawConsentRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Gateway_V1_WithdrawConsentResponse> {
    try await gateway.unary(request, method: Method.WithdrawConsent.descriptor, budget: .workflow) { message, call in
      Gateway.Answer(try await ConsentWithdrawal(context: WorkflowContext(gateway: gateway, call: call)).withdraw(message))
    }
  }

  func stopProcessing(
    request: ServerRequest<Privacy_Gateway_V1_StopProcessingRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Gateway_V1_StopProcessingResponse> {
    try await gateway.unary(request, method: Method.StopProcessing.descriptor, budget: .workflow) { message, call in
      Gateway.Answer(try await ProcessingRestriction(context: WorkflowContext(gateway: gateway, call: call)).stop(message))
    }
  }

  func resumeProcessing(
    request: ServerRequest<Privacy_Gateway_V1_ResumeProcessingRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Gateway_V1_ResumeProcessingResponse> {
    try await gateway.unary(request, method: Method.ResumeProcessing.descriptor, budget: .workflow) { message, call in
      Gateway.Answer(try await ProcessingRestriction(context: WorkflowContext(gateway: gateway, call: call)).resume(message))
    }
  }

  func executeRequest(
    request: ServerRequest<Privacy_Gateway_V1_ExecuteRequestRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Gateway_V1_ExecuteRequestResponse> {
    try await gateway.unary(request, method: Method.ExecuteRequest.descriptor, budget: .workflow) { message, call in
      try await RequestExecution(context: WorkflowContext(gateway: gateway, call: call)).execute(requestID: message.requestID)
    }
  }

  func runRetentionSweep(
    request: ServerRequest<Privacy_Gateway_V1_RunRetentionSweepRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Gateway_V1_RunRetentionSweepResponse> {
    try await gateway.unary(request, method: Method.RunRetentionSweep.descriptor, budget: .workflow) { message, call in
      Gateway.Answer(try await RetentionSweep(context: WorkflowContext(gateway: gateway, call: call)).run(message))
    }
  }

  // MARK: Reports

  func getProcessingRecords(
    request: ServerRequest<Privacy_Gateway_V1_GetProcessingRecordsRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Gateway_V1_GetProcessingRecordsResponse> {
    try await gateway.unary(request, method: Method.GetProcessingRecords.descriptor, budget: .workflow) { _, call in
      Gateway.Answer(try await ProcessingRecords(context: WorkflowContext(gateway: gateway, call: call)).build())
    }
  }

  func assessBreach(
    request: ServerRequest<Privacy_Gateway_V1_AssessBreachRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Gateway_V1_AssessBreachResponse> {
    try await gateway.unary(request, method: Method.AssessBreach.descriptor, budget: .workflow) { message, call in
      Gateway.Answer(try await BreachAssessment(context: WorkflowContext(gateway: gateway, call: call)).assess(message))
    }
  }
}

// MARK: Mapping

extension Privacy_Gateway_V1_WhoAmIResponse {
  init(_ principal: Principal, role: RolePolicy) {
    self.init()
    actor = principal.actor
    self.role = principal.role
    credentialKind = principal.credentialKind == .apiKey ? .apiKey : .jwt
    credentialID = principal.credentialID
    if let expiresAt = principal.expiresAt { credentialExpiresAt = expiresAt.protoTimestamp }
    methods = role.methods.map(\.description)
    fieldAccess = role.fields.rules.map { rule in
      .with {
        switch rule.selector {
        case .field(let name):
          $0.selectorKind = .field
          $0.selector = name
        case .tag(let tag):
          $0.selectorKind = .tag
          $0.selector = tag
        case .specialCategory(let name):
          $0.selectorKind = .specialCategory
          $0.selector = name
        case .classification(let classification):
          $0.selectorKind = .classification
          $0.selector = classification.rawValue
        }
        $0.level = rule.level.proto
      }
    }
    canOverrideBlocklist = role.canOverrideBlocklist
  }
}

extension AccessLevel {
  var proto: Privacy_Gateway_V1_AccessLevel {
    switch self {
    case .none: .none
    case .masked: .masked
    case .reveal: .reveal
    case .clear: .clear
    }
  }
}

extension AuditEntry {
  var proto: Privacy_Gateway_V1_AuditEntry {
    .with {
      $0.sequence = sequence
      $0.time = time.protoTimestamp
      $0.requestID = draft.requestID
      $0.actor = draft.actor
      $0.role = draft.role
      $0.method = draft.method
      $0.subjectID = draft.subjectID
      $0.subjectsTouched = UInt32(clamping: draft.subjectsTouched)
      $0.fieldsRevealed = draft.fieldsRevealed
      $0.reason = draft.reason
      $0.statusCode = Int32(draft.statusCode)
      $0.statusMessage = draft.statusMessage
      $0.hash = hash
      $0.prevHash = sequence == 1 ? "" : previousHash
      $0.phase =
        switch draft.phase {
        case .call: .unspecified
        case .intent: .intent
        case .outcome: .outcome
        }
    }
  }
}

extension AuditCheckpoint {
  var proto: Privacy_Gateway_V1_AuditCheckpoint {
    .with {
      $0.sequence = sequence
      $0.hash = hash
      $0.signedAt = signedAt.protoTimestamp
      $0.signature = signature
      $0.publicKey = publicKey
    }
  }

  /// A checkpoint sent back for verification, checked for shape (its signature is checked by
  /// the verification).
  init(_ proto: Privacy_Gateway_V1_AuditCheckpoint) throws(InvalidArgument) {
    guard proto.sequence > 0, proto.hash.utf8.count == 64, proto.hasSignedAt, proto.signedAt.isWellFormed else {
      throw InvalidArgument("checkpoints need a sequence, a 64-digit hash and a signing time")
    }
    self.init(sequence: proto.sequence, hash: proto.hash, signedAt: proto.signedAt.date, signature: proto.signature, publicKey: proto.publicKey)
  }
}

extension AuditQuery {
  /// The filters of a ListAudit request, checked.
  init(_ message: Privacy_Gateway_V1_ListAuditRequest) throws(InvalidArgument) {
    self.init()
    if !message.actor.isEmpty { actor = try Validate.requiredText(message.actor, field: "actor", maxLength: 200) }
    if !message.method.isEmpty {
      guard let pattern = MethodPattern(message.method) else {
        throw InvalidArgument("method must be package.Service/Method or package.Service/*")
      }
      method = pattern
    }
    if !message.subjectID.isEmpty { subjectID = try Validate.subjectID(message.subjectID) }
    if !message.requestID.isEmpty { requestID = try Validate.requiredText(message.requestID, field: "request_id", maxLength: 200) }
    if message.hasStartTime {
      guard message.startTime.isWellFormed else { throw InvalidArgument("start_time is out of range") }
      start = message.startTime.date
    }
    if message.hasEndTime {
      guard message.endTime.isWellFormed else { throw InvalidArgument("end_time is out of range") }
      end = message.endTime.date
    }
    if let start, let end, end < start { throw InvalidArgument("end_time is before start_time") }
    if message.hasStatusCode {
      guard (0...16).contains(message.statusCode) else { throw InvalidArgument("status_code must be 0-16") }
      statusCode = Int(message.statusCode)
    }
  }
}
