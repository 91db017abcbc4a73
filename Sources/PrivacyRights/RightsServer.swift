public import Foundation
public import Logging
public import PrivacyKit

/// Configuration of the subject-rights service: the common settings plus `PUBLIC_BASE_URL`
/// (optional: the base of verification links) and `RIGHTS_CLOSED_REQUEST_RETENTION_DAYS` (how long
/// a closed request keeps the person's data; default 1,095).
public struct RightsConfiguration: Sendable {
  public var service: ServiceConfiguration
  public var settings: RightsSettings

  public init(service: ServiceConfiguration, environment: EnvironmentReader) throws(ConfigurationError) {
    self.service = service
    var base: String?
    if let text = environment.string("PUBLIC_BASE_URL") {
      guard let url = URL(string: text), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
        throw .malformed("PUBLIC_BASE_URL", "must be an http or https URL, got \"\(text)\"")
      }
      var trimmed = text
      while trimmed.hasSuffix("/") { trimmed.removeLast() }
      base = trimmed
    }
    let retentionDays = try environment.int("RIGHTS_CLOSED_REQUEST_RETENTION_DAYS", range: 1...36_500)
    self.settings = RightsSettings(
      publicBaseURL: base, closedRequestRetentionDays: retentionDays ?? RightsSettings.defaultClosedRequestRetentionDays)
  }
}

/// Builds the subject-rights server: opens the store, purges expired artifacts, wires the
/// handler. `now` is the clock (tests move it).
public func makeRightsServer(
  service: ServiceConfiguration, environment: EnvironmentReader, logger: Logger, metrics: ServerMetrics? = nil,
  now: @escaping @Sendable () -> Date = { Date() }
) async throws -> PrivacyServer {
  let configuration = try RightsConfiguration(service: service, environment: environment)
  let store: any RightsStore
  var postgres: PostgresPool?
  switch service.database {
  case .sqlite(let path):
    store = try SQLiteRightsStore(path: path, logger: logger)
  case .postgres(let settings):
    let postgresStore = try await PostgresRightsStore.open(settings, logger: logger)
    store = postgresStore
    postgres = postgresStore.database
  }
  let desk = try await RightsDesk.open(store: store, settings: configuration.settings, now: now)
  let replica = postgres.map { database in
    ReplicaFollower(database: database, channel: PostgresRightsStore.changesChannel, logger: logger) { try await desk.catchUp() }
  }
  return PrivacyServer(
    configuration: service,
    services: [RightsHandler(desk: desk)],
    serviceNames: ["privacy.rights.v1.SubjectRightsService"],
    replica: replica,
    metrics: metrics,
    logger: logger
  )
}
