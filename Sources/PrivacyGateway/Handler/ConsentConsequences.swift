import GRPCCore
import PrivacyProtocol

/// What a consent decision recorded through the gateway means for the other backends.
enum ConsentConsequences {
  typealias RecordConsent = Privacy_Consent_V1_ConsentService.Method.RecordConsent

  /// RecordConsent: consent to a DATA_STORAGE purpose granted again unlocks the purpose's vault
  /// fields that its withdrawal erased and locked (WithdrawConsent). The decision is recorded
  /// first; a record that does not exist, or that is restricted or erased, has nothing to unlock.
  @Sendable static func recordConsent(
    _ message: RecordConsent.Input, _ call: Gateway.Call, _ forward: Forwarder<RecordConsent.Input, RecordConsent.Output>
  ) async throws -> Gateway.Answer<RecordConsent.Output> {
    let response = try await forward(message, call)
    guard response.event.decision == .granted else { return Gateway.Answer(response) }
    let context = WorkflowContext(gateway: forward.gateway, call: call)
    guard let purpose = try await context.purposes()[response.event.purposeID], purpose.category == .dataStorage,
      !purpose.vaultFields.isEmpty
    else { return Gateway.Answer(response) }
    do {
      _ = try await context.send(VaultMethod.UnlockFields.self, .with {
        $0.subjectID = response.event.subjectID
        $0.fields = purpose.vaultFields
        $0.reason = "storage consent \(purpose.purposeID) granted again"
      })
    } catch let error as RPCError where error.code == .notFound || error.code == .failedPrecondition {
      // Nothing to unlock.
    }
    return Gateway.Answer(response)
  }
}
