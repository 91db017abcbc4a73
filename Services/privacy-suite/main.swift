import Foundation
import Logging
import PrivacyMigrate
import PrivacySeed
import PrivacySuite
import ServiceLifecycle

// privacy-suite [--data-dir DIR] [--ephemeral-ports] [--plaintext]
// privacy-suite seed --subjects N [--data-dir DIR] [--consent-only]
// privacy-suite migrate --to postgres://... (--data-dir DIR | --service NAME --from sqlite:///path)
/// A malformed command line: says what is wrong and exits 2.
func refuse(_ message: String) -> Never {
  FileHandle.standardError.write(Data("privacy-suite: \(message); see --help\n".utf8))
  exit(2)
}

if CommandLine.arguments.dropFirst().first == "migrate" {
  exit(await MigrateCommand.run(Array(CommandLine.arguments.dropFirst(2)), environment: ProcessInfo.processInfo.environment))
}
var arguments = CommandLine.arguments.dropFirst()
let seeding = arguments.first == "seed"
if seeding { arguments.removeFirst() }
var dataDirectory = URL(fileURLWithPath: "data")
var ephemeralPorts = false
var plaintext = false
var subjects: Int?
var consentOnly = false
while let argument = arguments.popFirst() {
  switch argument {
  case "--subjects" where seeding:
    guard let value = arguments.popFirst().flatMap(Int.init), value > 0 else { refuse("--subjects needs a positive number") }
    subjects = value
  case "--data-dir":
    guard let value = arguments.popFirst() else { refuse("--data-dir needs a directory") }
    dataDirectory = URL(fileURLWithPath: value)
  case "--consent-only" where seeding:
    consentOnly = true
  case "--ephemeral-ports":
    ephemeralPorts = true
  case "--plaintext" where !seeding:
    plaintext = true
  case "-h", "--help":
    print("""
      usage: privacy-suite [--data-dir DIR] [--ephemeral-ports] [--plaintext]
             privacy-suite seed --subjects N [--data-dir DIR] [--consent-only]
             privacy-suite migrate --to postgres://... (--data-dir DIR | --service NAME --from sqlite:///path)
      Runs all five services locally with dev secrets and a dev CA kept in DIR (default ./data): TLS on
      every port, mutual TLS from the gateway to the backends; --plaintext turns TLS off for debugging.
      seed fills DIR's consent, vault, subject-rights and blocklist files with N subjects for benchmarks
      (DIR must hold none of them yet; --consent-only: the consent ledger alone). migrate copies services from SQLite to PostgreSQL (migrate --help).
      """)
    exit(0)
  default:
    refuse("unknown argument \(argument)")
  }
}

LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
var logger = Logger(label: "privacy.suite")
if seeding {
  guard let subjects else { refuse("seed needs --subjects N") }
  let directory = dataDirectory.standardizedFileURL
  for name in Seeder.files
  where FileManager.default.fileExists(atPath: directory.appendingPathComponent(name).path) {
    refuse("\(directory.path) already holds \(name); seed a fresh directory")
  }
  logger.logLevel = .warning
  do {
    func seconds(_ value: Double) -> String { String(format: "%.1f", value) }
    if consentOnly {
      try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
      let (events, elapsed) = try await Seeder.runConsent(subjects: subjects, directory: directory, logger: logger)
      print("seeded \(subjects) subjects in \(directory.path)")
      print("  consent: \(events) ledger events in \(seconds(elapsed)) s")
      exit(0)
    }
    let secrets = try DevSecrets.ensure(in: directory)
    let report = try await Seeder.run(
      subjects: subjects, directory: directory, masterKeyFile: secrets.vaultMasterKeyFile, pepperFile: secrets.blocklistPepperFile,
      logger: logger)
    print("seeded \(subjects) subjects in \(directory.path)")
    print("  vault: \(report.records) records in \(seconds(report.vaultSeconds)) s")
    print("  consent: \(report.ledgerEvents) ledger events in \(seconds(report.consentSeconds)) s")
    print("  subject-rights: \(report.requests) requests in \(seconds(report.rightsSeconds)) s")
    print("  blocklist: \(report.blocklistEntries) entries in \(seconds(report.blocklistSeconds)) s")
    exit(0)
  } catch {
    FileHandle.standardError.write(Data("privacy-suite seed: \(error)\n".utf8))
    exit(1)
  }
}
let binDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
let launcher = SuiteLauncher(
  options: .init(
    dataDirectory: dataDirectory.standardizedFileURL, binDirectory: binDirectory, ephemeralPorts: ephemeralPorts, plaintext: plaintext),
  environment: ProcessInfo.processInfo.environment, logger: logger)
let group = ServiceGroup(configuration: .init(services: [launcher], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
do {
  try await group.run()
} catch {
  FileHandle.standardError.write(Data("privacy-suite: \(error)\n".utf8))
  exit(1)
}
