public import Logging
public import PrivacyKit

/// Builds the gateway server. Its AdminService RPCs are not implemented yet: the server answers health
/// checks, and every other call gets gRPC's own UNIMPLEMENTED status.
public func makeGatewayServer(
  service: ServiceConfiguration, environment: EnvironmentReader, logger: Logger, metrics: ServerMetrics? = nil
) async throws -> PrivacyServer {
  PrivacyServer(configuration: service, services: [], serviceNames: [], metrics: metrics, logger: logger)
}
