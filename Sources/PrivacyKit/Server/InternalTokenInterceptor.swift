public import GRPCCore

/// Refuses every call that does not carry the internal credential, except health checks, which
/// load balancers and orchestrators make without one.
public struct InternalTokenInterceptor: ServerInterceptor {
  private let token: String

  public init(token: String) {
    self.token = token
  }

  public func intercept<Input: Sendable, Output: Sendable>(
    request: StreamingServerRequest<Input>,
    context: ServerContext,
    next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
  ) async throws -> StreamingServerResponse<Output> {
    if context.descriptor.service.fullyQualifiedService != HealthService.serviceName {
      let presented = request.metadata[stringValues: MetadataKey.internalToken].first(where: { _ in true }) ?? ""
      guard ConstantTime.equals(String(presented), token) else {
        throw RPCError(code: .unauthenticated, message: "missing or invalid internal credential")
      }
    }
    return try await next(request, context)
  }
}
