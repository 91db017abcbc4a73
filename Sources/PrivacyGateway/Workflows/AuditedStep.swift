import GRPCCore

extension WorkflowContext {
  /// A backend call the gateway makes on its own (the consent reactor, purpose retention),
  /// audited write-ahead like a call through it, as the context's actor and role: an intent
  /// entry first (none written: nothing is done, and the caller retries), then an outcome entry.
  /// A subject without a record (NOT_FOUND) or a record that cannot take the step (restricted,
  /// erased, released: FAILED_PRECONDITION) is an outcome, recorded with its status, and answers
  /// nil; other failures throw.
  @discardableResult
  func auditedStep<M: BackendMethod>(_ method: M.Type, _ message: M.Input, subjectID: String, reason: String) async throws -> M.Output? {
    var draft = AuditDraft(
      requestID: call.requestID, actor: call.principal.actor, role: call.principal.role, method: M.descriptor.fullyQualifiedMethod,
      subjectID: subjectID, reason: reason, statusCode: 0, phase: .intent)
    _ = try await gateway.audit.record(draft)
    draft.phase = .outcome
    var output: M.Output?
    do {
      output = try await send(method, message)
    } catch let error as RPCError where error.code == .notFound || error.code == .failedPrecondition {
      draft.statusCode = error.code.rawValue
      draft.statusMessage = String(error.message.prefix(1000))
    }
    _ = try await gateway.audit.record(draft)
    return output
  }
}
