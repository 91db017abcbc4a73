import GRPCCore
import PrivacyProtocol
import SwiftProtobuf

/// The mails the subject-rights service queues for a requester (identity verification, a new
/// deadline, a rejection, the completion) carry the person's own preference-page link in their
/// footer, like every mail of the suite. The rights service never calls another service, so the
/// gateway mints the link (consent's `CreatePreferenceLink`) for the request's subject and puts it
/// in the call; whatever a client sent there is replaced, so no caller can put a link of its own
/// into our mail. A request without a subject yet, or whose subject is erased, gets none; so does
/// a call that queues no mail (no requester address, a closed request the service will refuse),
/// which then mints no link either.
enum RequesterMailFooter {
  static func forward<Input: QueuesRequesterMail, Output: SwiftProtobuf.Message & Sendable>(
    _ message: Input, call: Gateway.Call, forward: Forwarder<Input, Output>
  ) async throws -> Gateway.Answer<Output> {
    let context = WorkflowContext(gateway: forward.gateway, call: call)
    var message = message
    let request = try await context.sendIfFound(RightsMethod.GetRequest.self, .with { $0.requestID = message.requestID })?.request
    message.preferenceURL = try await context.preferenceURL(forMailAbout: request)
    return Gateway.Answer(try await forward(message, call))
  }
}

/// A rights call that queues a mail to the requester.
protocol QueuesRequesterMail: SwiftProtobuf.Message & Sendable {
  var requestID: String { get }
  var preferenceURL: String { get set }
}

extension Privacy_Rights_V1_StartVerificationRequest: QueuesRequesterMail {}
extension Privacy_Rights_V1_ExtendDeadlineRequest: QueuesRequesterMail {}
extension Privacy_Rights_V1_RejectRequestRequest: QueuesRequesterMail {}
extension Privacy_Rights_V1_CompleteRequestRequest: QueuesRequesterMail {}

extension WorkflowContext {
  /// A fresh preference-page link for the footer of a mail about `request`; empty when no mail
  /// goes out (no requester address, or the request is closed), or there is no subject to link
  /// to (none yet, or erased: consent refuses it a link).
  func preferenceURL(forMailAbout request: Privacy_Rights_V1_DataSubjectRequest?) async throws -> String {
    guard let request, !request.requesterEmail.isEmpty, !request.subjectID.isEmpty, ![.completed, .rejected].contains(request.status)
    else { return "" }
    do {
      return try await send(ConsentMethod.CreatePreferenceLink.self, .with { $0.subjectID = request.subjectID }).url
    } catch let error as RPCError where error.code == .failedPrecondition || error.code == .notFound {
      return ""
    }
  }
}
