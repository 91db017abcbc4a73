public import Foundation
import GRPCCore
public import GRPCNIOTransportHTTP2
import GRPCProtobuf
public import PrivacyKit
import PrivacyProtocol
import SwiftProtobuf

/// An outbox the relay drains: lease the due messages, then acknowledge each after the mail
/// server's 250, or report why it was not delivered.
public protocol RelayOutbox: Sendable {
  /// `consent` or `rights`, for Message-IDs and logs.
  var name: String { get }
  func lease(max: Int, seconds: Int) async throws -> [OutgoingMail]
  /// Acknowledges the messages the mail server took (1-100 ids).
  func acknowledge(_ ids: [String]) async throws
  /// `retryAt` nil: failed for good.
  func reportFailure(_ id: String, failure: String, retryAt: Date?) async throws
}

/// The relay's one connection to the gateway, under an API key of the `service` role: the
/// gateway's policy and audit log cover every lease and acknowledgement, and neither backend
/// needs a way out to the mail server.
public struct RelayGateway: Sendable {
  let client: GRPCClient<HTTP2ClientTransport.Posix>
  private let apiKey: String
  private let callTimeout: Duration

  public init(address: ServiceAddress, tls: ClientTLS?, apiKey: String, callTimeout: Duration = .seconds(20)) throws {
    let config = HTTP2ClientTransport.Posix.Config.defaults { config in
      config.backoff = .init(initial: .milliseconds(100), max: .seconds(5), multiplier: 1.6, jitter: 0.2)
      tls?.configure(&config)
    }
    client = GRPCClient(
      transport: try HTTP2ClientTransport.Posix(
        target: address.target, transportSecurity: try tls?.transportSecurity() ?? .plaintext, config: config))
    self.apiKey = apiKey
    self.callTimeout = callTimeout
  }

  /// Keeps the connection until `close`.
  func runConnections() async throws { try await client.runConnections() }
  func close() { client.beginGracefulShutdown() }

  func call<Input: SwiftProtobuf.Message & Sendable, Output: SwiftProtobuf.Message & Sendable>(
    _ method: MethodDescriptor, _ message: Input
  ) async throws -> Output {
    var options = CallOptions.defaults
    options.timeout = callTimeout
    return try await client.unary(
      request: ClientRequest(message: message, metadata: ["authorization": .string("Bearer \(apiKey)")]), descriptor: method,
      serializer: ProtobufSerializer<Input>(), deserializer: ProtobufDeserializer<Output>(), options: options
    ) { try $0.message }
  }
}

/// The consent service's outbox: double opt-in and preference confirmations. Commercial in
/// context, so each carries the `List-Unsubscribe` headers.
public struct ConsentOutbox: RelayOutbox {
  typealias Service = Privacy_Consent_V1_ConsentService.Method
  let gateway: RelayGateway
  public var name: String { "consent" }

  public init(gateway: RelayGateway) { self.gateway = gateway }

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
  let gateway: RelayGateway
  public var name: String { "rights" }

  public init(gateway: RelayGateway) { self.gateway = gateway }

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
