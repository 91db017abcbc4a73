import CFatalSignals
import Foundation
public import Logging
import ServiceLifecycle

/// What an executable's `main.swift` calls: reads the environment, installs logging, builds the
/// server, prints `listening on HOST:PORT` as the first line on standard output once bound (then
/// `health on HOST:PORT` with `HEALTH_PORT`), and runs until SIGTERM or SIGINT (then drains for up
/// to 30 seconds).
public enum ServiceMain {
  public typealias Builder = @Sendable (_ configuration: ServiceConfiguration, _ environment: EnvironmentReader, _ logger: Logger, _ metrics: ServerMetrics?) async throws -> PrivacyServer

  public static func run(_ kind: ServiceKind, environment: [String: String]? = nil, build: Builder) async -> Never {
    // A crash ends the process at once instead of after seconds of symbolication.
    privacy_install_fatal_signal_handlers()
    let environment = environment ?? ProcessInfo.processInfo.environment
    let configuration: ServiceConfiguration
    do {
      configuration = try ServiceConfiguration(kind: kind, environment: environment)
    } catch {
      fail("configuration error: \(error)")
    }
    JSONLogHandler.bootstrap(level: configuration.logLevel)
    let logger = Logger(label: kind.loggerLabel)
    let metrics = configuration.metricsPort == nil ? nil : ServerMetrics()

    let server: PrivacyServer
    do {
      server = try await build(configuration, EnvironmentReader(environment), logger, metrics)
    } catch let error as ConfigurationError {
      fail("configuration error: \(error)")
    } catch {
      logger.critical("start-up failed", metadata: ["error.type": "\(type(of: error))", "error": "\(error)"])
      fail("start-up failed: \(error)")
    }

    var services: [any Service] = [server]
    if let port = configuration.metricsPort, let metrics {
      services.append(MetricsEndpoint(host: configuration.host, port: port, tls: configuration.tls, metrics: metrics, logger: logger))
    }
    let group = ServiceGroup(
      configuration: .init(
        services: services.map { .init(service: $0) },
        gracefulShutdownSignals: [.sigterm, .sigint],
        cancellationSignals: [],
        logger: logger
      ).withMaximumGracefulShutdownDuration(.seconds(30))
    )
    let healthPort = configuration.healthPort
    let announcer = Task {
      guard let bound = try? await server.address.wait() else { return }
      FileHandle.standardOutput.write(Data("listening on \(bracketed(bound))\n".utf8))
      // The health-only port is bound before the main one, so this line follows at once.
      if healthPort != nil, let health = try? await server.healthAddress.wait() {
        FileHandle.standardOutput.write(Data("health on \(bracketed(health))\n".utf8))
      }
    }
    do {
      try await group.run()
      announcer.cancel()
      exit(0)
    } catch {
      logger.critical("stopped with an error", metadata: ["error.type": "\(type(of: error))"])
      fail("stopped: \(error)")
    }
  }

  private static func bracketed(_ bound: (host: String, port: Int)) -> String {
    (bound.host.contains(":") ? "[\(bound.host)]" : bound.host) + ":\(bound.port)"
  }

  private static func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data((message + "\n").utf8))
    exit(1)
  }
}

extension ServiceGroupConfiguration {
  fileprivate func withMaximumGracefulShutdownDuration(_ duration: Duration) -> Self {
    var copy = self
    copy.maximumGracefulShutdownDuration = duration
    return copy
  }
}
