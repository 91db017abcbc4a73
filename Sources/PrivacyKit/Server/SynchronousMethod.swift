public import GRPCCore
import Logging
import PrivacyWire
public import SwiftProtobuf

/// A unary method served without a task per call. On the nghttp2 transport it is answered on the
/// connection's event loop; on the nio transport the service's own handler serves it, so a
/// service hands out the same function both ways. The function must not block or wait: while it
/// runs, the event loop serves nobody else.
public struct SynchronousMethod: Sendable {
  public let descriptor: MethodDescriptor
  /// The request's bytes and metadata in; the answer through the reply, at once or later.
  let answer: @Sendable (_ request: [UInt8], _ metadata: Metadata, _ reply: UnaryReply) -> Void

  /// A method that answers from memory at once (CheckConsent, say).
  public init<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
    _ descriptor: MethodDescriptor, answer: @escaping @Sendable (Request) throws -> Response
  ) {
    self.init(descriptor) { (request: Request, _, reply: SynchronousReply<Response>) in
      do {
        reply.succeed(try answer(request))
      } catch {
        reply.fail(error)
      }
    }
  }

  /// A method that may answer later, from any thread (the gateway's checks, once their audit
  /// entry is committed). It must reply exactly once; until then the call stays open, and the
  /// caller's deadline may end it first.
  public init<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
    _ descriptor: MethodDescriptor, deferred answer: @escaping @Sendable (Request, Metadata, SynchronousReply<Response>) -> Void
  ) {
    self.descriptor = descriptor
    self.answer = { bytes, metadata, reply in
      let request: Request
      do {
        request = try Request(serializedBytes: bytes)
      } catch {
        // As `RequestDecodingInterceptor` says it for every other call.
        reply(.failure(RPCError(code: .invalidArgument, message: "the request message is not a valid \(Request.protoMessageName)")))
        return
      }
      answer(request, metadata, SynchronousReply(reply: reply))
    }
  }
}

/// Sends a synchronous method's answer: the response with the metadata of its headers, or an
/// error as gRPC reports what a handler threw.
public struct SynchronousReply<Response: SwiftProtobuf.Message>: Sendable {
  let reply: UnaryReply

  public func succeed(_ response: Response, metadata: Metadata = [:]) {
    do {
      reply(.success(UnaryResponse(message: try response.serializedBytes(), metadata: metadata)))
    } catch {
      fail(error)
    }
  }

  public func fail(_ error: any Error) { reply(.failure(CallObserver.rpcError(error))) }
}

/// The synchronous methods as the nghttp2 transport runs them, under what the request guard and
/// the interceptors do for every call GRPCCore runs, in the same order: the `grpc-timeout` check,
/// then the call counted and logged (`CallObserver`, when it is answered), the internal
/// credential, the request message decoded, the answer.
enum SynchronousCalls {
  static func answers(
    _ methods: [SynchronousMethod], rules: RequestRules, token: InternalTokenInterceptor?, observer: CallObserver, logger: Logger
  ) -> [MethodDescriptor: EventLoopAnswer] {
    var answers: [MethodDescriptor: EventLoopAnswer] = [:]
    for method in methods {
      let name = method.descriptor.fullyQualifiedMethod
      answers[method.descriptor] = { request, metadata, reply in
        if let refusal = rules.refusal(of: metadata, method: method.descriptor, logger: logger) {
          reply(.failure(refusal))
          return
        }
        let start = ContinuousClock.now
        let observed = UnaryReply { result in
          switch result {
          case .success:
            observer.finished(method: name, start: start)
            reply(result)
          case .failure(let failure):
            reply(.failure(observer.failed(method: name, error: failure, metadata: metadata, start: start) ?? failure))
          }
        }
        do {
          try token?.check(metadata)
          method.answer(try request.get(), metadata, observed)
        } catch {
          observed(.failure(CallObserver.rpcError(error)))
        }
      }
    }
    return answers
  }
}
