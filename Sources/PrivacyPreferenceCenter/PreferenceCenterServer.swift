public import Logging
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import NIOCore
public import PrivacyKit
public import ServiceLifecycle

/// The preference center as one lifecycle service: the HTTP(S) server and its connection to the
/// gateway. `address` tells where it listens once bound.
public struct PreferenceCenterServer: Service {
  public let address: ListeningAddress
  private let application: Application<RouterResponder<PageContext>>
  private let gateway: GatewayConnection

  fileprivate init(application: Application<RouterResponder<PageContext>>, gateway: GatewayConnection, address: ListeningAddress) {
    self.application = application
    self.gateway = gateway
    self.address = address
  }

  public func run() async throws {
    defer { address.close() }
    try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask { try await gateway.client.runConnections() }
      try await application.run()
      gateway.client.beginGracefulShutdown()
      try await group.waitForAll()
    }
  }
}

/// Builds the preference center: reads its resources, opens the gateway client, wires the
/// routes, and serves them over HTTPS (plaintext only when the configuration has no TLS).
public func makePreferenceCenter(configuration: PreferenceCenterConfiguration, logger: Logger) async throws -> PreferenceCenterServer {
  let gateway = try GatewayConnection(
    address: configuration.gateway, tls: configuration.gatewayTLS, apiKey: configuration.apiKey, callTimeout: configuration.gatewayTimeout)
  let center = PreferenceCenter(
    gateway: gateway, resources: try await PageResources.load(), protection: FormProtection(apiKey: configuration.apiKey),
    statements: configuration.statements, logger: logger)
  let router = Router(context: PageContext.self)
  router.add(middleware: SecurityHeaders())
  center.register(on: router)
  let server: HTTPServerBuilder =
    if let tls = configuration.tls { try .tls(.http1(), tlsConfiguration: try tls.webConfiguration()) } else { .http1() }
  // Hummingbird's own log lines name request paths, which hold link tokens: only its errors
  // are kept, under a label of their own.
  var httpLogger = Logger(label: "privacy.preference-center.http")
  httpLogger.logLevel = .error
  let address = ListeningAddress()
  let application = Application(
    router: router, server: server,
    configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: nil),
    onServerRunning: { channel in
      if let bound = channel.localAddress, let port = bound.port { address.set(host: bound.ipAddress ?? configuration.host, port: port) }
    },
    logger: httpLogger)
  return PreferenceCenterServer(application: application, gateway: gateway, address: address)
}
