public import GRPCCore
public import Logging
import Foundation

/// Logs every call's method, status and duration (never its payload), counts it in metrics, and
/// turns an error no handler named into INTERNAL instead of UNKNOWN, logging the cause's type.
/// It must be the outermost interceptor: it sees the outcome of everything inside it.
public struct CallObserverInterceptor: ServerInterceptor {
  private let observer: CallObserver

  public init(logger: Logger, metrics: ServerMetrics?) {
    self.observer = CallObserver(logger: logger, metrics: metrics)
  }

  public func intercept<Input: Sendable, Output: Sendable>(
    request: StreamingServerRequest<Input>,
    context: ServerContext,
    next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
  ) async throws -> StreamingServerResponse<Output> {
    let start = ContinuousClock.now
    let method = context.descriptor.fullyQualifiedMethod
    let response: StreamingServerResponse<Output>
    do {
      response = try await next(request, context)
    } catch {
      // Interceptors further in throw; gRPC turns that into a failed response, so do it here too.
      response = StreamingServerResponse(error: CallObserver.rpcError(error))
    }
    switch response.accepted {
    case .success:
      observer.finished(method: method, start: start)
      return response
    case .failure(let error):
      let sent = observer.failed(method: method, error: error, metadata: request.metadata, start: start)
      return sent.map { StreamingServerResponse(error: $0) } ?? response
    }
  }
}

/// What `CallObserverInterceptor` does with a call's outcome, shared with the synchronous methods,
/// which GRPCCore never sees.
struct CallObserver: Sendable {
  let logger: Logger
  let metrics: ServerMetrics?

  /// Any error as gRPC reports what a handler threw: itself, what it names, or UNKNOWN.
  static func rpcError(_ error: any Error) -> RPCError {
    RPCError(error) ?? RPCError(code: .unknown, message: "", cause: error)
  }

  /// Counts and logs a call that succeeded.
  func finished(method: String, start: ContinuousClock.Instant) {
    finish(method: method, code: "OK", start: start, level: .debug)
  }

  /// Counts and logs a call that failed; returns the error to send instead, if not `error`.
  func failed(method: String, error: RPCError, metadata: Metadata, start: ContinuousClock.Instant) -> RPCError? {
    if error.code == .unknown, let cause = error.cause, !(cause is any RPCErrorConvertible) {
      // A handler threw an error no rule named (a storage failure, say): INTERNAL, not UNKNOWN,
      // and the cause goes to the log by type only, since its text may hold data.
      let requestID = CallerIdentity(metadata: metadata).requestID
      logger.error(
        "unexpected error",
        metadata: ["rpc.method": "\(method)", "request.id": "\(requestID)", "error.type": "\(type(of: cause))"])
      finish(method: method, code: RPCError.Code.internalError.canonicalName, start: start, level: .info)
      return RPCError(code: .internalError, message: "internal error (request id \(requestID))")
    }
    finish(method: method, code: error.code.canonicalName, start: start, level: .info)
    guard error.message.utf8.count > Self.maxStatusMessageBytes else { return nil }
    return RPCError(code: error.code, message: Self.cut(error.message), metadata: error.metadata)
  }

  /// The longest status message a server sends. Messages quote little input (`String.clipped`),
  /// so only a bug reaches this; a longer `grpc-message` could pass a peer's header-size limit,
  /// and a proxy such as the gateway would then lose its whole connection to this server.
  static let maxStatusMessageBytes = 1024

  private static func cut(_ message: String) -> String {
    var result = ""
    for character in message {
      guard result.utf8.count + character.utf8.count <= maxStatusMessageBytes - 3 else { break }
      result.append(character)
    }
    return result + "…"
  }

  private func finish(method: String, code: String, start: ContinuousClock.Instant, level: Logger.Level) {
    let elapsed = ContinuousClock.now - start
    metrics?.record(method: method, code: code, duration: elapsed)
    logger.log(
      level: level,
      "call finished",
      metadata: ["rpc.method": "\(method)", "rpc.code": "\(code)", "rpc.duration_ms": "\(elapsed.milliseconds)"]
    )
  }
}

extension Duration {
  /// Whole and fractional milliseconds, for logs.
  public var milliseconds: Double {
    let (seconds, attoseconds) = components
    return Double(seconds) * 1000 + Double(attoseconds) / 1e15
  }
}

extension RPCError.Code {
  /// The status code's name as gRPC specifies it (`NOT_FOUND`), for logs and metric labels.
  public var canonicalName: String { grpcStatusName(rawValue) }
}

/// The canonical gRPC name of a status code (`NOT_FOUND`); `CODE_<n>` for a code gRPC does not
/// define (a value read back from storage, say).
public func grpcStatusName(_ code: Int) -> String {
  let names = [
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
    "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
    "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
  ]
  return names.indices.contains(code) ? names[code] : "CODE_\(code)"
}

extension RPCError {
  /// The error as an RPC error if it is one or names one; nil otherwise.
  init?(_ error: any Error) {
    if let error = error as? RPCError {
      self = error
    } else if let convertible = error as? any RPCErrorConvertible {
      self.init(convertible)
    } else {
      return nil
    }
  }
}
