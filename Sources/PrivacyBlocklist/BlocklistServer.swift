public import Logging
public import PrivacyKit

/// Builds the blocklist server. Its BlocklistService RPCs are not implemented yet: the server answers health
/// checks, and every other call gets gRPC's own UNIMPLEMENTED status.
public func makeBlocklistServer(
  service: ServiceConfiguration, environment: EnvironmentReader, logger: Logger, metrics: ServerMetrics? = nil
) async throws -> PrivacyServer {
  PrivacyServer(configuration: service, services: [], serviceNames: [], metrics: metrics, logger: logger)
}
