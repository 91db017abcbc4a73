public import Foundation
public import Logging
public import PrivacyKit

/// Configuration of the vault service: the common settings plus the keyring
/// (`VAULT_MASTER_KEY` / `VAULT_MASTER_KEY_FILE`, required) and `VAULT_K_ANONYMITY`.
public struct VaultConfiguration: Sendable {
  public var service: ServiceConfiguration
  public var settings: VaultSettings

  /// Smallest and largest k-anonymity threshold accepted.
  public static let kAnonymityRange = 1...1000

  public init(service: ServiceConfiguration, environment: EnvironmentReader) throws(ConfigurationError) {
    self.service = service
    let keyring = try Keyring(environment: environment)
    let variable = environment.string("VAULT_MASTER_KEY_FILE") != nil ? "VAULT_MASTER_KEY_FILE" : "VAULT_MASTER_KEY"
    let k = try environment.int("VAULT_K_ANONYMITY", range: Self.kAnonymityRange) ?? 5
    self.settings = VaultSettings(keyring: keyring, keyringVariable: variable, kAnonymityThreshold: k)
  }
}

/// Builds the vault server from the environment (what `vault-service`'s `main.swift` calls).
public func makeVaultServer(
  service: ServiceConfiguration, environment: EnvironmentReader, logger: Logger, metrics: ServerMetrics? = nil
) async throws -> PrivacyServer {
  try await makeVaultServer(
    configuration: try VaultConfiguration(service: service, environment: environment), logger: logger, metrics: metrics)
}

/// Builds the vault server: opens the store and the vault, wires the handler. `now` is the clock
/// (tests move it).
public func makeVaultServer(
  configuration: VaultConfiguration, logger: Logger, metrics: ServerMetrics? = nil,
  now: @escaping @Sendable () -> Date = { Date() }
) async throws -> PrivacyServer {
  let store: any VaultStore
  var postgres: PostgresPool?
  switch configuration.service.database {
  case .sqlite(let path):
    store = try SQLiteVaultStore(path: path, logger: logger)
  case .postgres(let settings):
    let postgresStore = try await PostgresVaultStore.open(settings, logger: logger)
    store = postgresStore
    postgres = postgresStore.database
  }
  let vault = try await Vault.open(
    store: store, settings: configuration.settings, followsReplicas: postgres != nil, logger: logger, now: now)
  let replica = postgres.map { database in
    ReplicaFollower(database: database, channel: PostgresVaultStore.changesChannel, logger: logger) { try await vault.catchUp() }
  }
  let handler = VaultHandler(vault: vault)
  return PrivacyServer(
    configuration: configuration.service,
    services: [handler],
    serviceNames: ["privacy.vault.v1.VaultService"],
    synchronousMethods: handler.synchronousMethods,
    replica: replica,
    metrics: metrics,
    logger: logger
  )
}
