import PrivacyProtocol

/// The route handlers around the gateway's copy of the consent ledger: the checks it answers
/// when it may (else they go to the service), and the catalogue changes it must hear of.
enum ConsentCopyAnswers {
  typealias CheckConsent = Forwarder<Privacy_Consent_V1_CheckConsentRequest, Privacy_Consent_V1_CheckConsentResponse>
  typealias CheckConsentBatch = Forwarder<Privacy_Consent_V1_CheckConsentBatchRequest, Privacy_Consent_V1_CheckConsentBatchResponse>
  typealias CheckEmailEligibility = Forwarder<
    Privacy_Consent_V1_CheckEmailEligibilityRequest, Privacy_Consent_V1_CheckEmailEligibilityResponse
  >

  static func checkConsent(
    _ message: Privacy_Consent_V1_CheckConsentRequest, _ call: Gateway.Call, _ forward: CheckConsent
  ) async throws -> Gateway.Answer<Privacy_Consent_V1_CheckConsentResponse> {
    if let answer = try forward.gateway.consentCopy?.current?.checkConsent(message) { return Gateway.Answer(answer) }
    return Gateway.Answer(try await forward(message, call))
  }

  static func checkConsentBatch(
    _ message: Privacy_Consent_V1_CheckConsentBatchRequest, _ call: Gateway.Call, _ forward: CheckConsentBatch
  ) async throws -> Gateway.Answer<Privacy_Consent_V1_CheckConsentBatchResponse> {
    if let answer = try forward.gateway.consentCopy?.current?.checkConsentBatch(message) { return Gateway.Answer(answer) }
    return Gateway.Answer(try await forward(message, call))
  }

  static func checkEmailEligibility(
    _ message: Privacy_Consent_V1_CheckEmailEligibilityRequest, _ call: Gateway.Call, _ forward: CheckEmailEligibility
  ) async throws -> Gateway.Answer<Privacy_Consent_V1_CheckEmailEligibilityResponse> {
    if let answer = try forward.gateway.consentCopy?.current?.checkEmailEligibility(message) { return Gateway.Answer(answer) }
    return Gateway.Answer(try await forward(message, call))
  }

  /// UpsertPurpose and UpsertMailingList: whatever their outcome (a write may land even when its
  /// answer is lost), the copy lists the catalogue again before it answers.
  static func catalogueChange<Input, Output>(
    _ message: Input, _ call: Gateway.Call, _ forward: Forwarder<Input, Output>
  ) async throws -> Gateway.Answer<Output> {
    defer { forward.gateway.consentCopy?.catalogueChanged() }
    return Gateway.Answer(try await forward(message, call))
  }
}
