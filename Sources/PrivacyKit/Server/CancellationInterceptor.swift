public import GRPCCore
import PrivacyWire

/// Makes a call stop when gRPC says it should, and say why.
///
/// GRPCCore signals a passed deadline, or a client that reset its stream, only through the call's
/// cancellation handle, not by cancelling the task that runs the handler; a handler waiting on
/// something else (a change feed, a health watch) would run on. This interceptor cancels the
/// handler's task when the call is cancelled, and answers a call cut off by its deadline with
/// DEADLINE_EXCEEDED, one cut off by its client with CANCELLED, whatever the handler then threw or
/// returned.
public struct CancellationInterceptor: ServerInterceptor {
  public init() {}

  public func intercept<Input: Sendable, Output: Sendable>(
    request: StreamingServerRequest<Input>,
    context: ServerContext,
    next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
  ) async throws -> StreamingServerResponse<Output> {
    let deadline = request.metadata[stringValues: "grpc-timeout"].first(where: { _ in true })
      .flatMap(GRPCTimeout.duration).map { ContinuousClock.now + $0 }
    let outcome = CallOutcome(context: context, deadline: deadline)
    var response = try await outcome.running { try await next(request, context) }
    if case .success(var contents) = response.accepted {
      let producer = contents.producer
      contents.producer = { writer in try await outcome.running { try await producer(writer) } }
      response.accepted = .success(contents)
    }
    return response
  }
}

/// The status of a cancelled call, and the bridge from its cancellation handle to its task.
struct CallOutcome: Sendable {
  let context: ServerContext
  let deadline: ContinuousClock.Instant?

  /// Runs `body` in the current task, cancelling that task if the call is cancelled meanwhile.
  func running<T>(_ body: () async throws -> T) async throws -> T {
    let task = CurrentTask()
    let result: Result<T, any Error>
    do {
      result = .success(try await withRPCCancellationHandler(operation: body, onCancelRPC: { task.cancel() }))
    } catch {
      result = .failure(error)
    }
    if let cutOff { throw cutOff }
    return try result.get()
  }

  /// GRPCCore starts its deadline timer a little before interceptors run, so its cancellation
  /// can come just before `deadline` as computed here; a cancellation this close to the deadline
  /// is the deadline's (a client that reset its stream so late hears nothing either way).
  static let deadlineSlack = Duration.milliseconds(100)

  /// Why the call ended early, once it has been cancelled.
  private var cutOff: RPCError? {
    guard context.cancellation.isCancelled else { return nil }
    if let deadline, ContinuousClock.now >= deadline - Self.deadlineSlack {
      return RPCError(code: .deadlineExceeded, message: "the deadline passed")
    }
    return RPCError(code: .cancelled, message: "the client cancelled the call")
  }
}

/// The task running a call, cancellable from the thread that learns the call was cancelled. Only
/// used while that task runs inside `CallOutcome.running`, which is what makes sharing it sound.
private final class CurrentTask: @unchecked Sendable {
  private let task: UnsafeCurrentTask?

  init() {
    task = withUnsafeCurrentTask { $0 }
  }

  func cancel() {
    task?.cancel()
  }
}
