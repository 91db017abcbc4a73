import Foundation
import Logging
import PrivacyKit
import PrivacyPreferenceCenter
import ServiceLifecycle

// The subjects' preference page: reads the environment, serves until SIGTERM or SIGINT. Prints
// `listening on HOST:PORT` first once bound, like the gRPC services.
let environment = ProcessInfo.processInfo.environment
let configuration: PreferenceCenterConfiguration
do {
  configuration = try PreferenceCenterConfiguration(environment: environment)
} catch {
  FileHandle.standardError.write(Data("configuration error: \(error)\n".utf8))
  exit(1)
}
JSONLogHandler.bootstrap(level: configuration.logLevel)
let logger = Logger(label: "privacy.preference-center")
let server: PreferenceCenterServer
do {
  server = try await makePreferenceCenter(configuration: configuration, logger: logger)
} catch {
  FileHandle.standardError.write(Data("start-up failed: \(error)\n".utf8))
  exit(1)
}
let group = ServiceGroup(
  configuration: .init(services: [.init(service: server)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
let announcer = Task {
  guard let bound = try? await server.address.wait() else { return }
  let host = bound.host.contains(":") ? "[\(bound.host)]" : bound.host
  FileHandle.standardOutput.write(Data("listening on \(host):\(bound.port)\n".utf8))
}
do {
  try await group.run()
  announcer.cancel()
  exit(0)
} catch {
  FileHandle.standardError.write(Data("stopped: \(error)\n".utf8))
  exit(1)
}
