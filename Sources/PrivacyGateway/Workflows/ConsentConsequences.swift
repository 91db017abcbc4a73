import GRPCCore
import PrivacyProtocol

/// What a consent decision recorded through the gateway means for the other backends: consent to
/// a DATA_STORAGE purpose granted again unlocks the purpose's vault fields that its withdrawal
/// erased and locked (WithdrawConsent). The decisions are recorded first; a record that does not
/// exist, or that is restricted or erased, has nothing to unlock.
enum ConsentConsequences {
  typealias RecordConsent = Privacy_Consent_V1_ConsentService.Method.RecordConsent
  typealias BulkUpdate = Privacy_Consent_V1_ConsentService.Method.BulkUpdate

  /// RecordConsent: a GRANTED storage decision unlocks the subject's fields of that purpose.
  @Sendable static func recordConsent(
    _ message: RecordConsent.Input, _ call: Gateway.Call, _ forward: Forwarder<RecordConsent.Input, RecordConsent.Output>
  ) async throws -> Gateway.Answer<RecordConsent.Output> {
    let response = try await forward(message, call)
    guard response.event.decision == .granted else { return Gateway.Answer(response) }
    let context = WorkflowContext(gateway: forward.gateway, call: call)
    if let purpose = try await storagePurpose(response.event.purposeID, context) {
      try await unlock(response.event.subjectID, purpose, context)
    }
    return Gateway.Answer(response)
  }

  /// BulkUpdate: a GRANTED storage decision unlocks the purpose's fields of every subject that got
  /// an event, found as the purpose's events from `first_sequence` to `last_sequence`.
  @Sendable static func bulkUpdate(
    _ message: BulkUpdate.Input, _ call: Gateway.Call, _ forward: Forwarder<BulkUpdate.Input, BulkUpdate.Output>
  ) async throws -> Gateway.Answer<BulkUpdate.Output> {
    let response = try await forward(message, call)
    guard message.decision == .granted, response.updatedCount > 0 else { return Gateway.Answer(response) }
    let context = WorkflowContext(gateway: forward.gateway, call: call)
    guard let purpose = try await storagePurpose(message.purposeID, context) else { return Gateway.Answer(response) }
    // The purpose's events from the bulk's first on; a few written since may follow its last.
    let events = try await context.all(ConsentMethod.ListConsentEvents.self, .with {
      $0.purposeID = purpose.purposeID
      $0.afterSequence = response.firstSequence - 1
    }, \.events)
    for event in events where event.sequence <= response.lastSequence && event.decision == .granted {
      try await unlock(event.subjectID, purpose, context)
    }
    return Gateway.Answer(response)
  }

  /// The purpose when it is a DATA_STORAGE purpose that names vault fields.
  private static func storagePurpose(_ purposeID: String, _ context: WorkflowContext) async throws -> Privacy_Consent_V1_Purpose? {
    guard let purpose = try await context.purposes()[purposeID], purpose.category == .dataStorage, !purpose.vaultFields.isEmpty else {
      return nil
    }
    return purpose
  }

  private static func unlock(_ subjectID: String, _ purpose: Privacy_Consent_V1_Purpose, _ context: WorkflowContext) async throws {
    do {
      _ = try await context.send(VaultMethod.UnlockFields.self, .with {
        $0.subjectID = subjectID
        $0.fields = purpose.vaultFields
        $0.reason = "storage consent \(purpose.purposeID) granted again"
      })
    } catch let error as RPCError where error.code == .notFound || error.code == .failedPrecondition {
      // Nothing to unlock.
    }
  }
}
