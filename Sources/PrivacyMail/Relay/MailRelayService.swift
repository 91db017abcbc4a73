public import Logging
import PrivacyKit
public import ServiceLifecycle

/// The relay of a configuration, with its gateway connection running beside it.
public struct MailRelayService: Service {
  private let relay: MailRelay
  private let gateway: RelayGateway

  public init(configuration: MailRelayConfiguration, logger: Logger) throws {
    gateway = try RelayGateway(address: configuration.gateway, tls: configuration.gatewayTLS, apiKey: configuration.apiKey)
    relay = MailRelay(
      outboxes: [ConsentOutbox(gateway: gateway), RightsOutbox(gateway: gateway)], smtp: SMTPClient(server: configuration.smtp),
      webhooks: configuration.webhooks, settings: configuration.settings, logger: logger)
  }

  public func run() async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask { try await gateway.runConnections() }
      try await relay.run()
      gateway.close()
      try await group.waitForAll()
    }
  }
}
