public import GRPCCore
import SwiftProtobuf

/// Refuses request messages larger than `limit` bytes with RESOURCE_EXHAUSTED.
///
/// The transport's own payload limit resets the HTTP/2 stream instead of answering with a status
/// (clients then see CANCELLED), so the transport gets a higher hard cap
/// (`PrivacyServer.transportMessageCap`) that only protects memory, and this interceptor enforces
/// the contract's limit with a proper status.
public struct MessageSizeInterceptor: ServerInterceptor {
  private let limit: Int

  public init(limit: Int) {
    self.limit = limit
  }

  public func intercept<Input: Sendable, Output: Sendable>(
    request: StreamingServerRequest<Input>,
    context: ServerContext,
    next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
  ) async throws -> StreamingServerResponse<Output> {
    let limit = self.limit
    var request = request
    request.messages = RPCAsyncSequence(
      wrapping: request.messages.map { message in
        if let proto = message as? any SwiftProtobuf.Message {
          let size = (try proto.serializedBytes() as [UInt8]).count
          if size > limit {
            throw RPCError(
              code: .resourceExhausted, message: "request message of \(size) bytes exceeds the limit of \(limit) bytes")
          }
        }
        return message
      })
    return try await next(request, context)
  }
}
