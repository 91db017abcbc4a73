public import Logging
public import PrivacyKit

/// Builds the vault server. Its VaultService RPCs are not implemented yet: the server answers health
/// checks, and every other call gets gRPC's own UNIMPLEMENTED status.
public func makeVaultServer(
  service: ServiceConfiguration, environment: EnvironmentReader, logger: Logger, metrics: ServerMetrics? = nil
) async throws -> PrivacyServer {
  PrivacyServer(configuration: service, services: [], serviceNames: [], metrics: metrics, logger: logger)
}
