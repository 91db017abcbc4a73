import GRPCCore
import PrivacyKit
import PrivacyProtocol

/// RequestPreferenceChange. From a role bound to a preference link, the confirmation goes to the
/// address on the subject's record (the vault field tagged `email`), never to one the page sends:
/// whoever holds a forwarded link cannot confirm their own changes. From any other role the
/// request goes on as sent.
enum LinkedPreferenceChange {
  static func request(
    _ message: Privacy_Consent_V1_RequestPreferenceChangeRequest, call: Gateway.Call,
    forward: Forwarder<Privacy_Consent_V1_RequestPreferenceChangeRequest, Privacy_Consent_V1_RequestPreferenceChangeResponse>
  ) async throws -> Gateway.Answer<Privacy_Consent_V1_RequestPreferenceChangeResponse> {
    guard let subjectID = call.linkSubject else { return Gateway.Answer(try await forward(message, call)) }
    let identifiers = try await ReentryCheck(context: WorkflowContext(gateway: forward.gateway, call: call))
      .identifiers(ofSubject: subjectID, reason: "the address a preference change from the subject's page is confirmed at")
    guard let address = identifiers?.first(where: { $0.kind == .email })?.value else {
      throw RPCError(
        code: .failedPrecondition, message: "subject \(subjectID.prefix(128)) has no email address on record to confirm a change at")
    }
    var message = message
    message.emailAddress = address
    return Gateway.Answer(try await forward(message, call))
  }
}
