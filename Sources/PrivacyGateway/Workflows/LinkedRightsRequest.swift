import GRPCCore
import PrivacyKit
import PrivacyProtocol

/// OpenRequest. From a role bound to a preference link (the person's own page) a request is the
/// person's own (ERASURE, ACCESS or PORTABILITY, see `LinkBoundLimit`): it is opened with origin
/// DATA_SUBJECT and channel PREFERENCE_PAGE, and its identity verification is mailed at once to
/// the address on the subject's record, never one the page sends, so a forwarded link cannot
/// have anyone's data erased or sent out. While a request of the same right opened from the page
/// is still open, asking again answers it (`created` false), with a fresh verification mail
/// while it is not verified, rather than opening another (a request opened by staff, whose
/// requester address may be another, is never re-sent from here). From any other role the
/// request goes on as sent.
enum LinkedRightsRequest {
  typealias Open = Privacy_Rights_V1_SubjectRightsService.Method.OpenRequest

  static func open(
    _ message: Open.Input, call: Gateway.Call, forward: Forwarder<Open.Input, Open.Output>
  ) async throws -> Gateway.Answer<Open.Output> {
    guard let subjectID = call.linkSubject else { return Gateway.Answer(try await forward(message, call)) }
    let context = WorkflowContext(gateway: forward.gateway, call: call)
    let pending = try await context.requests(.with {
      $0.subjectID = subjectID
      $0.right = message.right
      $0.origin = .dataSubject
      $0.openOnly = true
    })
    var response: Open.Output
    if let existing = pending.first(where: { $0.channel == .preferencePage }) {
      response = .with { $0.request = existing; $0.created = false }
    } else {
      var message = message
      message.origin = .dataSubject
      message.channel = .preferencePage
      message.requesterEmail = try await context.addressOnRecord(
        of: subjectID, purpose: "the address a data-subject request from the subject's page is verified at")
      message.clearReceivedAt()  // received now, whatever the page says
      message.details = .init()
      // A key is global: another subject's could answer their request.
      message.idempotencyKey = ""
      response = try await forward(message, call)
    }
    guard [.received, .verifying].contains(response.request.status) else { return Gateway.Answer(response) }
    let preferenceURL = try await context.preferenceURL(forMailAbout: response.request)
    response.request = try await context.send(RightsMethod.StartVerification.self, .with {
      $0.requestID = response.request.requestID
      $0.preferenceURL = preferenceURL
    }).request
    return Gateway.Answer(response)
  }
}

extension Privacy_Rights_V1_OpenRequestRequest: LinkBoundLimit {
  /// The person's own requests that the page offers: erasure, access and portability.
  var linkBoundRefusal: String? {
    [.erasure, .access, .portability].contains(right) && [.unspecified, .dataSubject].contains(origin)
      ? nil : "a preference link may only open the subject's own ERASURE, ACCESS or PORTABILITY request"
  }
}
