import Foundation
import Logging
import PrivacyKit

/// The command line of `privacy-suite migrate`:
///
///     privacy-suite migrate --to postgres://... --data-dir DIR
///     privacy-suite migrate --to postgres://... --service NAME --from sqlite:///path
///
/// With `--data-dir`, every service whose file is in DIR (as the launcher names them) moves into
/// the one database `--to` names (their tables do not collide). The password comes from the URL,
/// `DATABASE_PASSWORD` or `DATABASE_PASSWORD_FILE`, as for the services.
public enum MigrateCommand {
  public static let usage = """
    usage: privacy-suite migrate --to postgres://... (--data-dir DIR | --service NAME --from sqlite:///path)
    Copies services from SQLite to PostgreSQL, keeping sequences and hashes so every chain still
    verifies; refuses a target that already holds data. Stop the services first. NAME is one of
    \(Migrator.services.joined(separator: ", ")).
    """

  /// Runs the command; returns the exit status (0 done, 1 refused or failed, 2 usage).
  public static func run(_ arguments: [String], environment: [String: String]) async -> Int32 {
    var arguments = arguments[...]
    var target: String?, directory: String?, service: String?, source: String?
    while let argument = arguments.popFirst() {
      switch argument {
      case "--to": target = arguments.popFirst()
      case "--data-dir": directory = arguments.popFirst()
      case "--service": service = arguments.popFirst()
      case "--from": source = arguments.popFirst()
      case "-h", "--help":
        print(usage)
        return 0
      default: return refuse("unknown argument \(argument)")
      }
    }
    var jobs: [(service: String, path: String)] = []
    switch (directory, service, source) {
    case (let directory?, nil, nil):
      let folder = URL(fileURLWithPath: directory)
      jobs = Migrator.services.map { ($0, folder.appendingPathComponent(Migrator.file(of: $0)).path) }
        .filter { FileManager.default.fileExists(atPath: $0.path) }
      if jobs.isEmpty { return refuse("\(directory) holds no service file (\(Migrator.services.map(Migrator.file(of:)).joined(separator: ", ")))") }
    case (nil, let service?, let source?):
      guard source.hasPrefix("sqlite://") else { return refuse("--from needs a sqlite:// URL") }
      let path = String(source.dropFirst("sqlite://".count))
      jobs = [(service, path.hasPrefix("/") ? path : URL(fileURLWithPath: path).path)]
    default:
      return refuse("give --data-dir, or --service with --from")
    }
    guard let target, target.hasPrefix("postgres://") || target.hasPrefix("postgresql://") else { return refuse("--to needs a postgres:// URL") }
    let settings: PostgresSettings
    do {
      settings = try PostgresSettings(url: target, environment: EnvironmentReader(environment))
    } catch {
      return fail("--to: \(error)")
    }
    var logger = Logger(label: "privacy.migrate")
    logger.logLevel = .warning
    for (service, path) in jobs {
      do {
        let report = try await Migrator.migrate(service: service, from: path, to: settings, logger: logger)
        let rows = report.tables.map { "\($0.table) \($0.rows)" }.joined(separator: ", ")
        print("\(service): copied \(rows)")
        if service == "gateway", FileManager.default.fileExists(atPath: path + ".audit-key") {
          print("gateway: its audit chain is keyed by \(path).audit-key; give that file to every gateway as GATEWAY_AUDIT_KEY_FILE")
        }
      } catch {
        return fail("\(service): \(error)")
      }
    }
    return 0
  }

  private static func refuse(_ message: String) -> Int32 {
    FileHandle.standardError.write(Data("privacy-suite migrate: \(message); see --help\n".utf8))
    return 2
  }

  private static func fail(_ message: String) -> Int32 {
    FileHandle.standardError.write(Data("privacy-suite migrate: \(message)\n".utf8))
    return 1
  }
}
