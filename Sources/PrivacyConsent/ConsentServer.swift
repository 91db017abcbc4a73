public import Logging
public import PrivacyKit
public import Foundation

/// Configuration of the consent service: the common settings plus `PUBLIC_BASE_URL`,
/// `DOUBLE_OPT_IN_TTL_HOURS`, `DOUBLE_OPT_IN_EXPIRY_CHECK_SECONDS`, `PREFERENCE_LINK_TTL_DAYS`,
/// `RECEIPT_SIGNING_KEY_FILE` and `RECEIPT_CONTROLLER` (the controller receipts name; default the
/// host of `PUBLIC_BASE_URL`).
public struct ConsentConfiguration: Sendable {
  public var service: ServiceConfiguration
  public var settings: ConsentSettings
  /// How often lapsed double opt-in links are looked for (DoubleOptInExpiry).
  public var expiryCheckInterval: Duration
  /// Signs consent receipts; nil: receipts are refused.
  public var receiptSigner: ReceiptSigner?
  public var receiptController: String

  public init(service: ServiceConfiguration, environment: EnvironmentReader) throws(ConfigurationError) {
    self.service = service
    let base = environment.string("PUBLIC_BASE_URL") ?? "http://localhost:8080"
    guard let url = URL(string: base), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
      throw .malformed("PUBLIC_BASE_URL", "must be an http or https URL, got \"\(base)\"")
    }
    let hours = try environment.int("DOUBLE_OPT_IN_TTL_HOURS", range: 1...(24 * 90)) ?? 24 * 7
    let linkDays = try environment.int("PREFERENCE_LINK_TTL_DAYS", range: 1...3650) ?? 90
    expiryCheckInterval = .seconds(try environment.int("DOUBLE_OPT_IN_EXPIRY_CHECK_SECONDS", range: 1...3600) ?? 60)
    receiptSigner = try ReceiptSigner.fromEnvironment(environment)
    receiptController = environment.string("RECEIPT_CONTROLLER") ?? url.host ?? base
    var trimmed = base
    while trimmed.hasSuffix("/") { trimmed.removeLast() }
    self.settings = ConsentSettings(
      publicBaseURL: trimmed, confirmationLifetime: TimeInterval(hours * 3600), preferenceLinkLifetime: TimeInterval(linkDays * 86_400))
  }
}

/// Builds the consent service's server: opens the store, rebuilds the ledger's memory, wires the
/// handler. `now` is the clock (tests move it).
public func makeConsentServer(
  configuration: ConsentConfiguration, logger: Logger, metrics: ServerMetrics? = nil,
  now: @escaping @Sendable () -> Date = { Date() }
) async throws -> PrivacyServer {
  let store: any ConsentStore
  var postgres: PostgresPool?
  switch configuration.service.database {
  case .postgres(let settings):
    let postgresStore = try await PostgresConsentStore.open(settings, logger: logger)
    store = postgresStore
    postgres = postgresStore.database
  case .sqlite(let path):
    store = try SQLiteConsentStore(path: path, logger: logger)
  }
  let ledger = try await ConsentLedger.open(
    store: store, settings: configuration.settings, followsReplicas: postgres != nil, logger: logger, now: now)
  let replica = postgres.map { database in
    ReplicaFollower(database: database, channel: PostgresConsentStore.changesChannel, logger: logger) { try await ledger.catchUp() }
  }
  let links = PreferenceLinks(store: store, ledger: ledger, settings: configuration.settings)
  let handler = ConsentHandler(
    ledger: ledger, links: links,
    receipts: ConsentReceipts(
      store: store, ledger: ledger, signer: configuration.receiptSigner, controller: configuration.receiptController),
    askRules: AskRules(store: store, ledger: ledger), replica: replica)
  return PrivacyServer(
    configuration: configuration.service,
    services: [handler],
    serviceNames: ["privacy.consent.v1.ConsentService"],
    synchronousMethods: handler.synchronousMethods,
    interceptors: [LedgerSequenceInterceptor(ledger: ledger)],
    companions: [DoubleOptInExpiry(ledger: ledger, links: links, interval: configuration.expiryCheckInterval, logger: logger)],
    replica: replica,
    metrics: metrics,
    logger: logger,
    onDrain: { ledger.closeWatchers() }
  )
}
