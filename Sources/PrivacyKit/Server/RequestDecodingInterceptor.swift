public import GRPCCore
import SwiftProtobuf

/// Says in our words that request bytes are no message of the method's type: "the request message
/// is not a valid privacy.consent.v1.CheckConsentRequest" (INVALID_ARGUMENT), instead of the
/// library's text with Swift type names.
///
/// While request messages are read, INVALID_ARGUMENT can only come from decoding them: the
/// transport and `RequestGuardTransport` raise other codes.
public struct RequestDecodingInterceptor: ServerInterceptor {
  public init() {}

  public func intercept<Input: Sendable, Output: Sendable>(
    request: StreamingServerRequest<Input>,
    context: ServerContext,
    next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
  ) async throws -> StreamingServerResponse<Output> {
    var request = request
    let type = (Input.self as? any SwiftProtobuf.Message.Type)?.protoMessageName ?? "request message"
    request.messages = RPCAsyncSequence(wrapping: RenamedDecodeFailures(base: request.messages, type: type))
    return try await next(request, context)
  }
}

/// Request messages whose decoding failures carry our message.
struct RenamedDecodeFailures<Element: Sendable>: AsyncSequence, Sendable {
  typealias Failure = any Error
  let base: RPCAsyncSequence<Element, any Error>
  let type: String

  func makeAsyncIterator() -> Iterator {
    Iterator(base: base.makeAsyncIterator(), type: type)
  }

  struct Iterator: AsyncIteratorProtocol {
    var base: RPCAsyncSequence<Element, any Error>.AsyncIterator
    let type: String

    mutating func next() async throws -> Element? {
      do {
        return try await base.next()
      } catch let error as RPCError where error.code == .invalidArgument {
        throw RPCError(code: .invalidArgument, message: "the request message is not a valid \(type)")
      }
    }
  }
}
