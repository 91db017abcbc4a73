import GRPCCore
import PrivacyConsent
import PrivacyKit
import PrivacyProtocol
import SwiftProtobuf

/// `CheckConsent` and `CheckEmailEligibility` answered from the gateway's copy of the consent
/// ledger without a task per call (on the nghttp2 transport's event loop, `SynchronousMethod`):
/// an API key checked, the role's grant, the answer from the copy filtered to the role's levels,
/// and the reply once the call's audit entry is committed. A call this cannot finish at once (a
/// JWT, whose keys may have to be fetched; a role bound to a preference link; a refused
/// credential or method; a copy that may not answer; a malformed request) takes the route's
/// whole way in a task instead, which audits it as every call: the caller sees the same answers
/// and the same audit log either way.
enum EventLoopChecks {
  private typealias Consent = Privacy_Consent_V1_ConsentService.Method

  static func methods(of gateway: Gateway) -> [SynchronousMethod] {
    guard gateway.consentCopy != nil else { return [] }
    return [
      method(Consent.CheckConsent.self, gateway) { copy, message in try copy.checkConsent(message) },
      method(Consent.CheckEmailEligibility.self, gateway) { copy, message in try copy.checkEmailEligibility(message) },
    ]
  }

  private static func method<Method: GeneratedMethod>(
    _: Method.Type, _ gateway: Gateway,
    fromCopy: @escaping @Sendable (LedgerMirror, Method.Input) throws -> Method.Output?
  ) -> SynchronousMethod {
    let route = RouteTable.backendRoutes.first { $0.descriptor == Method.descriptor } as! UnaryRoute<Method.Input, Method.Output>
    let wholeWay = route.serving(on: gateway)
    let descriptor = Method.descriptor
    return SynchronousMethod(descriptor) { (message: Method.Input, metadata, reply: SynchronousReply<Method.Output>) in
      let answered = gateway.answerAtOnce(message, metadata: metadata, method: descriptor, reply: reply) {
        guard let copy = gateway.consentCopy?.current else { return nil }
        return try? fromCopy(copy, message)
      }
      guard !answered else { return }
      UnaryRoute.serveInTask(wholeWay, message, metadata: metadata, reply: reply)
    }
  }
}

extension Gateway {
  /// Answers a read from memory when the caller's credential, role and `answer` allow it at once,
  /// replying after the audit entry's commit (or UNAVAILABLE if the entry cannot be written, as
  /// `unary`). False: nothing was done or recorded, and the call must take the whole way.
  func answerAtOnce<Input: Sendable, Output: SwiftProtobuf.Message>(
    _ message: Input, metadata: Metadata, method: MethodDescriptor, reply: SynchronousReply<Output>, answer: () -> Output?
  ) -> Bool {
    guard let principal = try? authenticator.authenticateAtOnce(metadata), let role = try? authorize(principal, method: method),
      !role.boundToLink, let output = answer()
    else { return false }
    var draft = Self.draft(for: message, method: method)
    draft.actor = principal.actor
    draft.role = principal.role
    let requestID = draft.requestID
    // Consent evidence leaves only at the role's levels, whichever method carries it.
    let response = EvidenceFilter(fields: role.fields).apply(to: output)
    audit.record(draft) { committed in
      switch committed {
      case .success:
        reply.succeed(response, metadata: [MetadataKey.requestID: .string(requestID)])
      case .failure:
        var failure = RPCError(AuditUnavailable())
        failure.metadata.replaceOrAddString(requestID, forKey: MetadataKey.requestID)
        reply.fail(failure)
      }
    }
    return true
  }
}
