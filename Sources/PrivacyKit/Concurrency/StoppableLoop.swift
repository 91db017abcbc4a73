import Synchronization

/// Runs a companion's loop as a task that `stop()` cancels, even when it comes before the loop
/// has started (the server may stop at once).
public final class StoppableLoop: Sendable {
  public init() {}

  private let running = Mutex<(stopped: Bool, task: Task<Void, Never>?)>((false, nil))

  /// Runs `body` until it returns or `stop()` cancels it.
  public func run(_ body: @escaping @Sendable () async -> Void) async {
    let task = Task { await body() }
    let stopped = running.withLock { running in
      running.task = task
      return running.stopped
    }
    if stopped { task.cancel() }
    await withTaskCancellationHandler { await task.value } onCancel: { task.cancel() }
  }

  public func stop() {
    running.withLock { running in
      running.stopped = true
      running.task?.cancel()
    }
  }
}
