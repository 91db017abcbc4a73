public import Logging
public import PrivacyKit
public import Foundation

/// Configuration of the consent service: the common settings plus `PUBLIC_BASE_URL`,
/// `DOUBLE_OPT_IN_TTL_HOURS` and `DOUBLE_OPT_IN_EXPIRY_CHECK_SECONDS`.
public struct ConsentConfiguration: Sendable {
  public var service: ServiceConfiguration
  public var settings: ConsentSettings
  /// How often lapsed double opt-in links are looked for (DoubleOptInExpiry).
  public var expiryCheckInterval: Duration
  /// The database when `DATABASE_URL` is `postgres://`.
  public var postgres: PostgresSettings?

  public init(service: ServiceConfiguration, environment: EnvironmentReader) throws(ConfigurationError) {
    self.service = service
    let base = environment.string("PUBLIC_BASE_URL") ?? "http://localhost:8080"
    guard let url = URL(string: base), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
      throw .malformed("PUBLIC_BASE_URL", "must be an http or https URL, got \"\(base)\"")
    }
    let hours = try environment.int("DOUBLE_OPT_IN_TTL_HOURS", range: 1...(24 * 90)) ?? 24 * 7
    expiryCheckInterval = .seconds(try environment.int("DOUBLE_OPT_IN_EXPIRY_CHECK_SECONDS", range: 1...3600) ?? 60)
    var trimmed = base
    while trimmed.hasSuffix("/") { trimmed.removeLast() }
    self.settings = ConsentSettings(publicBaseURL: trimmed, confirmationLifetime: TimeInterval(hours * 3600))
    if case .postgres(let url) = service.database { self.postgres = try PostgresSettings(url: url, environment: environment) }
  }
}

/// Builds the consent service's server: opens the store, rebuilds the ledger's memory, wires the
/// handler. `now` is the clock (tests move it).
public func makeConsentServer(
  configuration: ConsentConfiguration, logger: Logger, metrics: ServerMetrics? = nil,
  now: @escaping @Sendable () -> Date = { Date() }
) async throws -> PrivacyServer {
  let store: any ConsentStore
  switch (configuration.service.database, configuration.postgres) {
  case (_, let settings?):
    let postgres = try await PostgresConsentStore.open(settings, logger: logger)
    // The ledger's memory does not follow other replicas yet: one consent service per database.
    guard try await postgres.database.claimSoleReplica("consent") else {
      throw ConfigurationError.malformed(
        "DATABASE_URL", "names a database another consent-service already serves; on PostgreSQL the consent service runs as one replica")
    }
    store = postgres
  case (.sqlite(let path), nil):
    store = try SQLiteConsentStore(path: path, logger: logger)
  case (.postgres, nil):
    preconditionFailure("ConsentConfiguration reads PostgresSettings for every postgres:// DATABASE_URL")
  }
  let ledger = try await ConsentLedger.open(store: store, settings: configuration.settings, logger: logger, now: now)
  return PrivacyServer(
    configuration: configuration.service,
    services: [ConsentHandler(ledger: ledger)],
    serviceNames: ["privacy.consent.v1.ConsentService"],
    companions: [DoubleOptInExpiry(ledger: ledger, interval: configuration.expiryCheckInterval, logger: logger)],
    metrics: metrics,
    logger: logger,
    onDrain: { ledger.closeWatchers() }
  )
}
