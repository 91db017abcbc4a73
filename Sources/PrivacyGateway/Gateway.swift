import Foundation
public import GRPCCore
public import Logging
public import PrivacyKit
import PrivacyProtocol
import PrivacyWire
import Synchronization

/// The gateway's core: for every call, authenticate the caller, check the role may call the
/// method (before any backend is touched), run the call, and commit its audit before the answer
/// leaves: one entry for a read or a refused call; for a call that changes state (or reveals a
/// value), an intent entry before the first backend call and an outcome entry after. Handlers
/// (forwarded backend methods and AdminService) only supply the part between authorization and
/// audit.
public final class Gateway: Sendable {
  public let policy: Policy
  public let audit: AuditLog
  /// Where the consent reactor keeps its cursor and lease; nil: no reactor runs.
  public let reactorStore: (any ReactorStore)?
  public let backends: Backends
  /// The gateway's copy of the consent ledger, which answers checks when it may; nil: off.
  let consentCopy: ConsentCopy?
  let authenticator: Authenticator
  let settings: GatewaySettings
  let logger: Logger
  let streams = StreamRegistry()

  init(
    policy: Policy, authenticator: Authenticator, audit: AuditLog, reactorStore: (any ReactorStore)?, backends: Backends,
    consentCopy: ConsentCopy?, settings: GatewaySettings, logger: Logger
  ) {
    self.policy = policy
    self.authenticator = authenticator
    self.audit = audit
    self.reactorStore = reactorStore
    self.backends = backends
    self.consentCopy = consentCopy
    self.settings = settings
    self.logger = logger
  }

  /// An authenticated and authorized call in progress.
  public struct Call: Sendable {
    public let principal: Principal
    public let role: RolePolicy
    /// The gateway's id for the call, sent to backends as `x-request-id` and returned to the
    /// caller in the `x-request-id` response metadata.
    public let requestID: String
    public let method: String
    /// When backend calls must be done by; nil for a stream without a caller deadline.
    public let deadline: ContinuousClock.Instant?
    /// For a role bound to a preference link: the link's subject, the only one the call may act for.
    public let linkSubject: String?
    let internalToken: String?
    let subjectNote = SubjectNote()

    /// Names the subject the call turned out to be about when its request did not name one (a
    /// data-subject request executed, a contact created under a generated id), so the audit
    /// entry names it whether the call then succeeds or fails.
    public func concerns(subject subjectID: String) { subjectNote.record(subjectID) }

    /// The metadata for a backend call: the internal credential and the caller's identity as
    /// the gateway established it. Nothing the client sent is passed on.
    public var backendMetadata: Metadata {
      CallerIdentity(actor: principal.actor, role: principal.role, requestID: requestID).metadata(internalToken: internalToken)
    }

    /// Options for a backend call: the time left until the deadline.
    public func backendOptions() throws -> CallOptions {
      var options = CallOptions.defaults
      options.waitForReady = false
      if let deadline {
        let left = deadline - .now
        guard left > .zero else { throw RPCError(code: .deadlineExceeded, message: "the deadline passed before the backend was called") }
        options.timeout = left
      }
      return options
    }

    /// The field level the caller's role has on a field.
    public func level(for field: FieldFacts) -> AccessLevel { role.fields.level(for: field) }
  }

  /// How long a unary call may run.
  public enum TimeBudget: Sendable {
    /// One backend call: the caller's deadline, at most the backend timeout.
    case backendCall
    /// A workflow of many backend calls: the caller's deadline, or the workflow timeout.
    case workflow
  }

  /// A handler's answer and what the audit entry must say about it.
  public struct Answer<Output: Sendable>: Sendable {
    public var message: Output
    /// Vault fields the answer carries in clear that the caller asked to see (RevealField,
    /// ExportRecord), names only.
    public var fieldsRevealed: [String]

    public init(_ message: Output, fieldsRevealed: [String] = []) {
      self.message = message
      self.fieldsRevealed = fieldsRevealed
    }
  }

  // MARK: Unary calls

  /// Runs a unary call through authentication, authorization, `body` and the audit log.
  /// A workflow (`budget: .workflow`) gets the caller's deadline or the configured workflow
  /// timeout, since it makes many backend calls; each of those is still bounded by the backend
  /// timeout.
  ///
  /// A call that changes state is audited write-ahead: if its intent entry cannot be written,
  /// nothing runs and the caller gets UNAVAILABLE. Its backend work then runs to the end even
  /// when the caller leaves or its deadline passes first (under the gateway's own timeouts), so
  /// that the outcome entry records what the backends did, not the caller's impatience.
  public func unary<Input: Sendable, Output: Sendable>(
    _ request: ServerRequest<Input>, method: MethodDescriptor, budget: TimeBudget = .backendCall,
    body: @escaping @Sendable (Input, Call) async throws -> Answer<Output>
  ) async throws -> ServerResponse<Output> {
    let start = ContinuousClock.now
    var draft = Self.draft(for: request.message, method: method)
    let writeAhead = Self.isAuditedWriteAhead(method)
    let result: Result<Answer<Output>, RPCError>
    var admitted: Call?
    do {
      let call = try await admit(
        request.metadata, message: request.message, method: method, start: start, isStream: false, budget: budget,
        writeAhead: writeAhead, draft: &draft)
      admitted = call
      if writeAhead {
        var intent = draft
        intent.phase = .intent
        try await commit(intent)
        draft.phase = .outcome
        let message = request.message
        let requestID = draft.requestID
        // Unstructured, so that the caller's cancellation does not reach the backends' work.
        result = await Task {
          do {
            return .success(try await body(message, call))
          } catch {
            return .failure(self.rpcError(error, requestID: requestID))
          }
        }.value
      } else {
        result = .success(try await body(request.message, call))
      }
    } catch {
      result = .failure(rpcError(error, requestID: draft.requestID))
    }
    if draft.subjectID.isEmpty, let subjectID = admitted?.subjectNote.subjectID { draft.subjectID = String(subjectID.prefix(200)) }
    switch result {
    case .success(let answer):
      draft.fieldsRevealed = answer.fieldsRevealed.sorted()
      try await commit(draft)
      // Consent evidence leaves only at the role's levels, whichever method carries it.
      let message = admitted.map { EvidenceFilter(fields: $0.role.fields).apply(to: answer.message) } ?? answer.message
      return ServerResponse(message: message, metadata: [MetadataKey.requestID: .string(draft.requestID)])
    case .failure(let error):
      draft.statusCode = error.code.rawValue
      draft.statusMessage = String(error.message.prefix(1000))
      try await commit(draft)
      var error = error
      error.metadata.replaceOrAddString(draft.requestID, forKey: MetadataKey.requestID)
      throw error
    }
  }

  // MARK: Server streams

  /// Runs a server-streaming call: authentication and authorization first; once the backend has
  /// accepted the stream (`open` returns), one audit entry records it, then messages flow. The
  /// entry's status is the opening's outcome; how the stream ended is logged, not audited.
  public func serverStream<Input: Sendable, Output: Sendable>(
    _ request: ServerRequest<Input>, context: ServerContext, method: MethodDescriptor,
    body: @escaping @Sendable (Input, Call, _ opened: @escaping @Sendable () async throws -> Void, RPCWriter<Output>) async throws -> Void
  ) async -> StreamingServerResponse<Output> {
    let start = ContinuousClock.now
    var draft = Self.draft(for: request.message, method: method)
    let call: Call
    do {
      call = try await admit(
        request.metadata, message: request.message, method: method, start: start, isStream: true, budget: .backendCall,
        writeAhead: false, draft: &draft)
    } catch {
      return await refuse(rpcError(error, requestID: draft.requestID), draft: draft)
    }
    let opening = draft
    let audited = Mutex(false)
    let message = request.message
    let streams = self.streams
    return StreamingServerResponse(
      accepted: .success(.init(metadata: [MetadataKey.requestID: .string(call.requestID)]) { writer in
        let opened: @Sendable () async throws -> Void = {
          try await self.commit(opening)
          audited.withLock { $0 = true }
        }
        do {
          try await streams.run(cancellation: context.cancellation) {
            try await body(message, call, opened, writer)
          }
          return [:]
        } catch {
          var error = self.rpcError(error, requestID: call.requestID)
          if !audited.withLock({ $0 }) {
            var failed = opening
            failed.statusCode = error.code.rawValue
            failed.statusMessage = String(error.message.prefix(1000))
            try await self.commit(failed)
          }
          error.metadata.replaceOrAddString(call.requestID, forKey: MetadataKey.requestID)
          throw error
        }
      }))
  }

  private func refuse<Output: Sendable>(_ error: RPCError, draft: AuditDraft) async -> StreamingServerResponse<Output> {
    var draft = draft
    draft.statusCode = error.code.rawValue
    draft.statusMessage = String(error.message.prefix(1000))
    do {
      try await commit(draft)
    } catch {
      return StreamingServerResponse(error: error as? RPCError ?? RPCError(code: .unavailable, message: "\(error)"))
    }
    var error = error
    error.metadata.replaceOrAddString(draft.requestID, forKey: MetadataKey.requestID)
    return StreamingServerResponse(error: error)
  }

  // MARK: Steps

  static func draft<Input>(for message: Input, method: MethodDescriptor) -> AuditDraft {
    AuditDraft(
      requestID: RequestID.make(), actor: "", role: "", method: method.fullyQualifiedMethod,
      subjectID: String(((message as? any NamesSubject)?.subjectID ?? "").prefix(200)),
      subjectsTouched: (message as? any NamesSubjects)?.subjectsTouched ?? 0,
      reason: String(((message as? any GivesReason)?.auditReason ?? "").prefix(500)), statusCode: 0)
  }

  /// The methods whose calls only read (and are audited in one entry): every other method is
  /// audited write-ahead, a method added later included. RevealField and ExportRecord are not
  /// here: a reveal is logged by the vault, so it must not happen unless its intent is on record.
  static let readMethods: Set<String> = [
    "ListPurposes", "CheckConsent", "GetConsentState", "ListConsentEvents", "ListSubjects", "CheckEmailEligibility",
    "ListMailingLists", "ListSubscriptions", "WatchConsentEvents", "VerifyLedger", "ListOutbox", "ListFields", "GetRecord",
    "ListAccessLog", "VerifyAccessLog", "FindByField", "GetRequest", "ListRequests", "GetArtifact", "ListRecipients",
    "ListRetentionPolicies", "ListDueForRetention", "Check", "List", "WhoAmI", "ListAudit", "VerifyAudit", "GetBackendHealth",
    "ListAuditCheckpoints", "GetProcessingRecords", "AssessBreach", "ResolvePreferenceLink", "GetConsentReceipt", "VerifyReceipt",
    "GetReceiptKeys", "CheckConsentBatch", "GetRecords",
  ]

  static func isAuditedWriteAhead(_ method: MethodDescriptor) -> Bool { !readMethods.contains(method.method) }

  /// Authenticates and authorizes; fills the draft's actor and role. A write-ahead call of one
  /// backend call gets the gateway's full backend timeout whatever the caller's deadline, so that
  /// its outcome is known. A workflow keeps the caller's deadline: it stops between steps, keeps
  /// back time to record a step's failure, and resumes later, so its step log says what it did.
  private func admit(
    _ metadata: Metadata, message: Any, method: MethodDescriptor, start: ContinuousClock.Instant, isStream: Bool, budget: TimeBudget,
    writeAhead: Bool, draft: inout AuditDraft
  ) async throws -> Call {
    let principal = try await authenticator.authenticate(metadata)
    draft.actor = principal.actor
    draft.role = principal.role
    let role = try authorize(principal, method: method)
    let fullMethod = method.fullyQualifiedMethod
    let callerTimeout = metadata[stringValues: "grpc-timeout"].first(where: { _ in true }).flatMap(GRPCTimeout.duration)
    let timeout: Duration? =
      switch (isStream, budget) {
      case (true, _): callerTimeout
      case (false, .backendCall) where writeAhead: settings.backendTimeout
      case (false, .backendCall): min(callerTimeout ?? settings.backendTimeout, settings.backendTimeout)
      case (false, .workflow): callerTimeout ?? settings.workflowTimeout
      }
    var linkSubject: String?
    if role.boundToLink {
      let identity = CallerIdentity(actor: principal.actor, role: principal.role, requestID: draft.requestID)
      linkSubject = try await LinkBinding.subject(for: message, method: fullMethod, metadata: metadata) { token in
        try await self.resolveLink(token, identity: identity)
      }
    }
    return Call(
      principal: principal, role: role, requestID: draft.requestID, method: fullMethod, deadline: timeout.map { start + $0 },
      linkSubject: linkSubject, internalToken: settings.internalToken)
  }

  /// The caller's role when it may call `method`: the one authorization rule of every call,
  /// applied before any backend is touched or any answer given.
  func authorize(_ principal: Principal, method: MethodDescriptor) throws(PermissionDenied) -> RolePolicy {
    let fullMethod = method.fullyQualifiedMethod
    guard policy.allows(role: principal.role, method: fullMethod), let role = policy.role(principal.role) else {
      throw PermissionDenied(message: "role \(principal.role) may not call \(fullMethod)")
    }
    return role
  }

  /// The subject a preference link's token opens, asked of the consent service.
  private func resolveLink(_ token: String, identity: CallerIdentity) async throws -> String {
    var options = CallOptions.defaults
    options.timeout = settings.backendTimeout
    let answer: Privacy_Consent_V1_ResolvePreferenceLinkResponse = try await backends.consent.unary(
      Privacy_Consent_V1_ResolvePreferenceLinkRequest.with { $0.token = token },
      method: Privacy_Consent_V1_ConsentService.Method.ResolvePreferenceLink.descriptor,
      metadata: identity.metadata(internalToken: settings.internalToken), options: options)
    return answer.subjectID
  }

  /// Commits the entry; if it cannot be written the call fails (fail-closed).
  private func commit(_ draft: AuditDraft) async throws {
    do {
      _ = try await audit.record(draft)
    } catch {
      var failure = RPCError(AuditUnavailable())
      failure.metadata.replaceOrAddString(draft.requestID, forKey: MetadataKey.requestID)
      throw failure
    }
  }

  /// Any error as the status the caller gets (and the audit records).
  func rpcError(_ error: any Error, requestID: String) -> RPCError {
    if let error = error as? RPCError { return error }
    if let convertible = error as? any RPCErrorConvertible { return RPCError(convertible) }
    if error is CancellationError { return RPCError(code: .cancelled, message: "the call was cancelled") }
    logger.error("unexpected error", metadata: ["request.id": "\(requestID)", "error.type": "\(type(of: error))"])
    return RPCError(code: .internalError, message: "internal error (request id \(requestID))")
  }

  /// Ends every stream the gateway relays (the server is draining).
  public func closeStreams() { streams.cancelAll() }
}

/// The subject a call learned it is about (see `Gateway.Call.concerns(subject:)`).
final class SubjectNote: Sendable {
  private let value = Mutex<String?>(nil)

  func record(_ subjectID: String) {
    guard !subjectID.isEmpty else { return }
    value.withLock { $0 = subjectID }
  }

  var subjectID: String? { value.withLock { $0 } }
}

/// Settings of the gateway beyond the common ones.
public struct GatewaySettings: Sendable {
  /// The longest a backend call may take when the caller's deadline is longer or unset
  /// (`GATEWAY_BACKEND_TIMEOUT_MS`).
  public var backendTimeout: Duration
  /// Sent to backends in `x-internal-token`.
  public var internalToken: String?
  /// How long a workflow (CreateContact, ExecuteRequest, ...) may run when the caller sets no
  /// deadline (`GATEWAY_WORKFLOW_TIMEOUT_MS`).
  public var workflowTimeout: Duration
  /// How long a run's claim on a request lasts unless renewed (`GATEWAY_REQUEST_LEASE_S`): the
  /// longest a request waits after the gateway running it died.
  public var requestLease: Duration
  /// How long a workflow waits for its art 19 notices to be delivered (`GATEWAY_NOTICE_WAIT_MS`).
  public var noticeWait: Duration
  /// Test-only fault injection (`GATEWAY_TEST_CRASH_AFTER_STEP`): the process exits right after
  /// recording this workflow step DONE, so tests can prove a resumed run reaches the same end.
  public var crashAfterStep: String?
  /// Whether the gateway reaches the backends over mutual TLS (reported in the records of
  /// processing as a measure in force).
  public var backendsOverMutualTLS: Bool

  public init(
    backendTimeout: Duration = .seconds(5), workflowTimeout: Duration = .seconds(60), requestLease: Duration = .seconds(15),
    noticeWait: Duration = .seconds(15), internalToken: String?, crashAfterStep: String? = nil, backendsOverMutualTLS: Bool = false
  ) {
    self.requestLease = requestLease
    self.noticeWait = noticeWait
    self.backendsOverMutualTLS = backendsOverMutualTLS
    self.backendTimeout = backendTimeout
    self.workflowTimeout = workflowTimeout
    self.internalToken = internalToken
    self.crashAfterStep = crashAfterStep
  }
}

/// The caller's role may not call the method.
public struct PermissionDenied: PrivacyError {
  public static let errorDomain = "privacy.gateway.v1"
  public var message: String
  public var statusCode: StatusCode { .permissionDenied }

  public init(message: String) {
    self.message = message
  }
}

/// The streams the gateway relays, so that a draining server can end them, and each ends when
/// its caller goes away.
final class StreamRegistry: Sendable {
  private struct State {
    var closed = false
    var closers: [UUID: AsyncStream<Void>.Continuation] = [:]
  }

  private let state = Mutex(State())

  /// Runs `body` until it finishes, the RPC is cancelled (caller gone, deadline), or the
  /// registry is closed.
  func run(cancellation: ServerContext.RPCCancellationHandle, _ body: @escaping @Sendable () async throws -> Void) async throws {
    let id = UUID()
    let (closeSignal, closer) = AsyncStream<Void>.makeStream()
    let closed = state.withLock { state in
      if !state.closed { state.closers[id] = closer }
      return state.closed
    }
    defer { _ = state.withLock { $0.closers.removeValue(forKey: id) } }
    guard !closed else { throw RPCError(code: .unavailable, message: "the gateway is shutting down") }
    try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask { try await body() }
      group.addTask {
        try await cancellation.cancelled
        throw CancellationError()
      }
      group.addTask {
        for await _ in closeSignal {}
        try Task.checkCancellation()
        throw RPCError(code: .unavailable, message: "the gateway is shutting down")
      }
      // The first to finish decides; the others are cancelled.
      defer { group.cancelAll() }
      try await group.next()
    }
  }

  func cancelAll() {
    let closers = state.withLock { state in
      state.closed = true
      defer { state.closers = [:] }
      return Array(state.closers.values)
    }
    for closer in closers { closer.finish() }
  }
}
