public import Logging
import PrivacyKit
public import ServiceLifecycle

/// The relay of a configuration, with its gateway connection running beside it.
public struct MailRelayService: Service {
  private let relay: MailRelay
  private let gateway: GatewayClient

  public init(configuration: MailRelayConfiguration, logger: Logger) throws {
    gateway = try GatewayClient(
      address: configuration.gateway, tls: configuration.gatewayTLS, apiKey: configuration.apiKey, callTimeout: .seconds(20),
      maxBackoff: .seconds(5))
    relay = MailRelay(
      outboxes: [ConsentOutbox(gateway: gateway), RightsOutbox(gateway: gateway)], smtp: SMTPClient(server: configuration.smtp),
      webhooks: configuration.webhooks, settings: configuration.settings, logger: logger)
  }

  public func run() async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask { try await gateway.client.runConnections() }
      try await relay.run()
      gateway.client.beginGracefulShutdown()
      try await group.waitForAll()
    }
  }
}
