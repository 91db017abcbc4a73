public import Foundation
import GRPCCore
public import PrivacyKit
import PrivacyProtocol
import SwiftProtobuf

/// An outbox the relay drains: lease the due messages, then acknowledge each after the mail
/// server's 250, or report why it was not delivered. Both go through the gateway under a key of
/// the `service` role: the gateway's policy and audit log cover every lease and acknowledgement,
/// and neither backend needs a way out to the mail server.
public protocol RelayOutbox: Sendable {
  /// `consent` or `rights`, for Message-IDs and logs.
  var name: String { get }
  func lease(max: Int, seconds: Int) async throws -> [OutgoingMail]
  /// Acknowledges the messages the mail server took (1-100 ids).
  func acknowledge(_ ids: [String]) async throws
  /// `retryAt` nil: failed for good.
  func reportFailure(_ id: String, failure: String, retryAt: Date?) async throws
}

/// The consent service's outbox: double opt-in and preference confirmations. Commercial in
/// context, so each carries the `List-Unsubscribe` headers.
public struct ConsentOutbox: RelayOutbox {
  typealias Service = Privacy_Consent_V1_ConsentService.Method
  let gateway: GatewayClient
  public var name: String { "consent" }

  public init(gateway: GatewayClient) { self.gateway = gateway }

  public func lease(max: Int, seconds: Int) async throws -> [OutgoingMail] {
    let response: Privacy_Consent_V1_LeaseOutboxResponse = try await gateway.call(
      Service.LeaseOutbox.descriptor, Privacy_Consent_V1_LeaseOutboxRequest.with {
        $0.maxMessages = Int32(max)
        $0.leaseSeconds = Int32(seconds)
      })
    return response.messages.map { message in
      OutgoingMail(
        outbox: name, id: message.messageID, recipient: message.emailAddress, subject: message.subjectLine, text: message.body,
        preferenceURL: message.preferenceURL, listUnsubscribe: message.listUnsubscribe,
        listUnsubscribePost: message.listUnsubscribePost, attempts: Int(message.delivery.attempts),
        language: MailLanguage(tag: message.language))
    }
  }

  public func acknowledge(_ ids: [String]) async throws {
    let _: Privacy_Consent_V1_AckOutboxResponse = try await gateway.call(
      Service.AckOutbox.descriptor, Privacy_Consent_V1_AckOutboxRequest.with { $0.messageIds = ids })
  }

  public func reportFailure(_ id: String, failure: String, retryAt: Date?) async throws {
    let _: Privacy_Consent_V1_ReportOutboxFailureResponse = try await gateway.call(
      Service.ReportOutboxFailure.descriptor, Privacy_Consent_V1_ReportOutboxFailureRequest.with {
        $0.messageID = id
        $0.failure = failure
        $0.permanent = retryAt == nil
        if let retryAt { $0.retryAt = Google_Protobuf_Timestamp(date: retryAt) }
      })
  }
}

/// The rights service's outbox: verification, new deadline, rejection and completion notices to
/// requesters (transactional: no `List-Unsubscribe`), and art 19 notices to recipients, by mail
/// or by signed webhook.
public struct RightsOutbox: RelayOutbox {
  typealias Service = Privacy_Rights_V1_SubjectRightsService.Method
  let gateway: GatewayClient
  public var name: String { "rights" }

  public init(gateway: GatewayClient) { self.gateway = gateway }

  public func lease(max: Int, seconds: Int) async throws -> [OutgoingMail] {
    let response: Privacy_Rights_V1_LeaseOutboxResponse = try await gateway.call(
      Service.LeaseOutbox.descriptor, Privacy_Rights_V1_LeaseOutboxRequest.with {
        $0.maxMessages = Int32(max)
        $0.leaseSeconds = Int32(seconds)
      })
    return response.messages.map { message in
      OutgoingMail(
        outbox: name, id: message.messageID, recipient: message.recipientEmail, subject: message.subjectLine, text: message.body,
        preferenceURL: message.preferenceURL, attempts: Int(message.delivery.attempts), webhookURL: message.webhookURL,
        webhookSignature: message.webhookSignature, language: MailLanguage(tag: message.language))
    }
  }

  public func acknowledge(_ ids: [String]) async throws {
    let _: Privacy_Rights_V1_AckOutboxResponse = try await gateway.call(
      Service.AckOutbox.descriptor, Privacy_Rights_V1_AckOutboxRequest.with { $0.messageIds = ids })
  }

  public func reportFailure(_ id: String, failure: String, retryAt: Date?) async throws {
    let _: Privacy_Rights_V1_ReportOutboxFailureResponse = try await gateway.call(
      Service.ReportOutboxFailure.descriptor, Privacy_Rights_V1_ReportOutboxFailureRequest.with {
        $0.messageID = id
        $0.failure = failure
        $0.permanent = retryAt == nil
        if let retryAt { $0.retryAt = Google_Protobuf_Timestamp(date: retryAt) }
      })
  }
}
