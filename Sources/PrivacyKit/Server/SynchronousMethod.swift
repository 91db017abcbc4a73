public import GRPCCore
import Logging
import PrivacyWire
public import SwiftProtobuf

/// A unary method whose handler answers from memory at once (CheckConsent, say). On the nghttp2
/// transport it is answered on the connection's event loop, with no task per call; on the nio
/// transport the service's own handler serves it, so a service hands out the same function both
/// ways. The function must not block or wait: while it runs, the event loop serves nobody else.
public struct SynchronousMethod: Sendable {
  public let descriptor: MethodDescriptor
  let answer: @Sendable (_ request: [UInt8]) throws -> [UInt8]

  public init<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
    _ descriptor: MethodDescriptor, answer: @escaping @Sendable (Request) throws -> Response
  ) {
    self.descriptor = descriptor
    self.answer = { bytes in
      let request: Request
      do {
        request = try Request(serializedBytes: bytes)
      } catch {
        // As `RequestDecodingInterceptor` says it for every other call.
        throw RPCError(code: .invalidArgument, message: "the request message is not a valid \(Request.protoMessageName)")
      }
      return try answer(request).serializedBytes()
    }
  }
}

/// The synchronous methods as the nghttp2 transport runs them, under what the request guard and
/// the interceptors do for every call GRPCCore runs, in the same order: the `grpc-timeout` check,
/// then the call counted and logged (`CallObserver`), the internal credential, the request
/// message decoded, the answer.
enum SynchronousCalls {
  static func answers(
    _ methods: [SynchronousMethod], rules: RequestRules, token: InternalTokenInterceptor?, observer: CallObserver, logger: Logger
  ) -> [MethodDescriptor: SynchronousAnswer] {
    var answers: [MethodDescriptor: SynchronousAnswer] = [:]
    for method in methods {
      let name = method.descriptor.fullyQualifiedMethod
      answers[method.descriptor] = { request, metadata in
        if let refusal = rules.refusal(of: metadata, method: method.descriptor, logger: logger) { return .failure(refusal) }
        let start = ContinuousClock.now
        do {
          try token?.check(metadata)
          let response = try method.answer(try request.get())
          observer.finished(method: name, start: start)
          return .success(response)
        } catch {
          let failure = CallObserver.rpcError(error)
          return .failure(observer.failed(method: name, error: failure, metadata: metadata, start: start) ?? failure)
        }
      }
    }
    return answers
  }
}
