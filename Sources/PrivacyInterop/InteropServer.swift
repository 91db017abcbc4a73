import InteropProtocol
public import Logging
public import PrivacyKit

/// Builds the interop-server: gRPC's interop `grpc.testing.TestService` on the server every
/// service of the suite runs (the same transport, TLS, limits and interceptors), with no
/// credential asked, so that stock interop clients can check the transport against gRPC's own
/// interop test descriptions. `grpc.testing.UnimplementedService` is not served.
public func makeInteropServer(service: ServiceConfiguration, logger: Logger, metrics: ServerMetrics? = nil) -> PrivacyServer {
  typealias Method = Grpc_Testing_TestService.Method
  return PrivacyServer(
    configuration: service,
    services: [TestServiceHandler()],
    serviceNames: [Grpc_Testing_TestService.descriptor.fullyQualifiedService],
    streamingRequestMethods: [Method.StreamingInputCall.descriptor, Method.FullDuplexCall.descriptor, Method.HalfDuplexCall.descriptor],
    authentication: .byServices,
    metrics: metrics,
    logger: logger
  )
}
