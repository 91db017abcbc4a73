import GRPCCore
import PrivacyKit
import PrivacyProtocol

/// PutRecord through the gateway. The write is tried as an update first; only when it would
/// create the record (a new person) does the re-entry check run, as in CreateContact, before
/// the write is made. A match refuses the write (`SUBJECT_PREVIOUSLY_ERASED`): re-entry goes
/// through CreateContact, which takes the person's own webform submission or an audited override.
enum RecordWrite {
  typealias PutRecord = Privacy_Vault_V1_VaultService.Method.PutRecord

  @Sendable static func putRecord(
    _ message: PutRecord.Input, _ call: Gateway.Call, _ forward: Forwarder<PutRecord.Input, PutRecord.Output>
  ) async throws -> Gateway.Answer<PutRecord.Output> {
    guard !message.updateOnly else { return Gateway.Answer(try await forward(message, call)) }
    var update = message
    update.updateOnly = true
    do {
      return Gateway.Answer(try await forward(update, call))
    } catch let error as RPCError where error.code == .notFound {
      // No record yet: this write creates a person.
    }
    let context = WorkflowContext(gateway: forward.gateway, call: call)
    let identifiers = ReentryCheck.identifiers(message.values, fields: try await context.vaultFields())
    if let oldest = try await ReentryCheck(context: context).matches(identifiers).first {
      throw ReentryCheck.refusal(oldest)
    }
    return Gateway.Answer(try await forward(message, call))
  }
}
