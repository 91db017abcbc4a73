public import GRPCCore
public import Logging
import Foundation

/// Logs every call's method, status and duration (never its payload), counts it in metrics, and
/// turns an error no handler named into INTERNAL instead of UNKNOWN, logging the cause.
public struct CallObserverInterceptor: ServerInterceptor {
  private let logger: Logger
  private let metrics: ServerMetrics?

  public init(logger: Logger, metrics: ServerMetrics?) {
    self.logger = logger
    self.metrics = metrics
  }

  public func intercept<Input: Sendable, Output: Sendable>(
    request: StreamingServerRequest<Input>,
    context: ServerContext,
    next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
  ) async throws -> StreamingServerResponse<Output> {
    let start = ContinuousClock.now
    let method = context.descriptor.fullyQualifiedMethod
    do {
      let response = try await next(request, context)
      finish(method: method, code: "ok", start: start, level: .debug)
      return response
    } catch let error as RPCError {
      finish(method: method, code: error.code.description, start: start, level: .info)
      throw error
    } catch let error as any RPCErrorConvertible & Error {
      finish(method: method, code: RPCError(error).code.description, start: start, level: .info)
      throw error
    } catch {
      let requestID = CallerIdentity(metadata: request.metadata).requestID
      logger.error(
        "unexpected error",
        metadata: ["rpc.method": "\(method)", "request.id": "\(requestID)", "error.type": "\(type(of: error))"]
      )
      finish(method: method, code: "internal error", start: start, level: .info)
      throw RPCError(code: .internalError, message: "internal error (request id \(requestID))")
    }
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
