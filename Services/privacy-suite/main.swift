import Foundation
import Logging
import PrivacySuite
import ServiceLifecycle

// privacy-suite [--data-dir DIR] [--ephemeral-ports]
var arguments = CommandLine.arguments.dropFirst()
var dataDirectory = URL(fileURLWithPath: "data")
var ephemeralPorts = false
while let argument = arguments.popFirst() {
  switch argument {
  case "--data-dir":
    guard let value = arguments.popFirst() else { fatalError("--data-dir needs a directory") }
    dataDirectory = URL(fileURLWithPath: value)
  case "--ephemeral-ports":
    ephemeralPorts = true
  case "-h", "--help":
    print("usage: privacy-suite [--data-dir DIR] [--ephemeral-ports]\nRuns all five services locally with dev secrets kept in DIR (default ./data).")
    exit(0)
  default:
    FileHandle.standardError.write(Data("unknown argument \(argument); see --help\n".utf8))
    exit(2)
  }
}

LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
let logger = Logger(label: "privacy.suite")
let binDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
let launcher = SuiteLauncher(
  options: .init(dataDirectory: dataDirectory.standardizedFileURL, binDirectory: binDirectory, ephemeralPorts: ephemeralPorts),
  environment: ProcessInfo.processInfo.environment, logger: logger)
let group = ServiceGroup(configuration: .init(services: [launcher], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
do {
  try await group.run()
} catch {
  FileHandle.standardError.write(Data("privacy-suite: \(error)\n".utf8))
  exit(1)
}
