import GRPCCore
import PrivacyKit
import PrivacyProtocol

/// RequestPreferenceChange. From a role bound to a preference link, the confirmation goes to the
/// address on the subject's record, never to one the page sends. From any other role the request
/// goes on as sent.
enum LinkedPreferenceChange {
  static func request(
    _ message: Privacy_Consent_V1_RequestPreferenceChangeRequest, call: Gateway.Call,
    forward: Forwarder<Privacy_Consent_V1_RequestPreferenceChangeRequest, Privacy_Consent_V1_RequestPreferenceChangeResponse>
  ) async throws -> Gateway.Answer<Privacy_Consent_V1_RequestPreferenceChangeResponse> {
    guard let subjectID = call.linkSubject else { return Gateway.Answer(try await forward(message, call)) }
    var message = message
    message.emailAddress = try await WorkflowContext(gateway: forward.gateway, call: call)
      .addressOnRecord(of: subjectID, purpose: "the address a preference change from the subject's page is confirmed at")
    return Gateway.Answer(try await forward(message, call))
  }
}
