public import Foundation

/// Where a running `privacy-suite` serves, written to `endpoints.json` in its data directory so
/// that privacyctl finds a suite started with `--ephemeral-ports` (and its health-only ports)
/// without being told. Holds no secret: API keys are printed once and never stored in clear.
public struct SuiteEndpoints: Codable, Sendable, Equatable {
  public struct Service: Codable, Sendable, Equatable {
    /// The executable's name, such as `gateway` or `consent-service`.
    public var name: String
    /// `host:port` of its gRPC port.
    public var address: String
    /// `host:port` of its plaintext health-only port.
    public var health: String?

    public init(name: String, address: String, health: String?) {
      self.name = name
      self.address = address
      self.health = health
    }
  }

  /// The gateway first, then the backends.
  public var services: [Service]
  /// The dev CA that vouches for every port; nil when the suite runs in plaintext.
  public var caFile: String?
  /// The launcher's process id: a file whose launcher is gone is stale and ignored.
  public var launcher: Int32

  public static let fileName = "endpoints.json"
  /// The variable naming the suite's data directory; `./data` (the launcher's default) without it.
  public static let directoryVariable = "PRIVACY_SUITE_DIR"

  public init(services: [Service], caFile: String?, launcher: Int32) {
    self.services = services
    self.caFile = caFile
    self.launcher = launcher
  }

  public var gateway: Service? { services.first { $0.name == "gateway" } }

  /// Writes the file atomically (a reader never sees half of it).
  public func write(in directory: URL) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try encoder.encode(self).write(to: directory.appendingPathComponent(Self.fileName), options: .atomic)
  }

  /// Removes the file, when the suite stops.
  public static func remove(in directory: URL) {
    try? FileManager.default.removeItem(at: directory.appendingPathComponent(fileName))
  }

  /// The running suite's endpoints from `PRIVACY_SUITE_DIR` (or `./data`); nil when there is no
  /// file, it cannot be read, or its launcher no longer runs.
  public static func running(environment: [String: String] = ProcessInfo.processInfo.environment) -> SuiteEndpoints? {
    let directory = environment[directoryVariable].flatMap { $0.isEmpty ? nil : $0 } ?? "data"
    guard
      let data = try? Data(contentsOf: URL(fileURLWithPath: directory).appendingPathComponent(fileName)),
      let endpoints = try? JSONDecoder().decode(SuiteEndpoints.self, from: data),
      endpoints.launcher > 0, kill(endpoints.launcher, 0) == 0 || errno == EPERM
    else { return nil }
    return endpoints
  }
}
