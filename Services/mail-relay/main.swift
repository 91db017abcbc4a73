import Foundation
import Logging
import PrivacyKit
import PrivacyMail
import ServiceLifecycle

// The mail relay: delivers the outbox messages of consent and rights over SMTP until SIGTERM or
// SIGINT, letting the deliveries under way finish. Prints `relaying to HOST:PORT` (the mail
// server) first once it runs.
let configuration: MailRelayConfiguration
do {
  configuration = try MailRelayConfiguration(environment: ProcessInfo.processInfo.environment)
} catch {
  FileHandle.standardError.write(Data("configuration error: \(error)\n".utf8))
  exit(1)
}
JSONLogHandler.bootstrap(level: configuration.logLevel)
let logger = Logger(label: "privacy.mail-relay")
let relay: MailRelayService
do {
  relay = try MailRelayService(configuration: configuration, logger: logger)
} catch {
  FileHandle.standardError.write(Data("start-up failed: \(error)\n".utf8))
  exit(1)
}
let smtpHost = configuration.smtp.host.contains(":") ? "[\(configuration.smtp.host)]" : configuration.smtp.host
FileHandle.standardOutput.write(Data("relaying to \(smtpHost):\(configuration.smtp.port)\n".utf8))
let group = ServiceGroup(
  configuration: .init(services: [.init(service: relay)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
do {
  try await group.run()
  exit(0)
} catch {
  FileHandle.standardError.write(Data("stopped: \(error)\n".utf8))
  exit(1)
}
