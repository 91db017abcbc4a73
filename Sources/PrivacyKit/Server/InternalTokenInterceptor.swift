public import GRPCCore

/// Refuses every call that does not carry the internal credential, except health checks, which
/// load balancers and orchestrators make without one, and reflection, which tells only the API.
public struct InternalTokenInterceptor: ServerInterceptor {
  private let token: [UInt8]

  private static let open = Set([HealthService.serviceName] + ReflectionService.serviceNames)

  public init(token: String) {
    self.token = Array(token.utf8)
  }

  public func intercept<Input: Sendable, Output: Sendable>(
    request: StreamingServerRequest<Input>,
    context: ServerContext,
    next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
  ) async throws -> StreamingServerResponse<Output> {
    if !Self.open.contains(context.descriptor.service.fullyQualifiedService) { try check(request.metadata) }
    return try await next(request, context)
  }

  /// Throws UNAUTHENTICATED unless `metadata` carries the token.
  func check(_ metadata: Metadata) throws(RPCError) {
    let presented = metadata[stringValues: MetadataKey.internalToken].first(where: { _ in true }) ?? ""
    // Constant time over the bytes; only the length can differ early, and it is no secret.
    guard ConstantTime.equals(presented.utf8, token) else {
      throw RPCError(code: .unauthenticated, message: "missing or invalid internal credential")
    }
  }
}
