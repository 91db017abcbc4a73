import NIOCore

/// Runs tasks on one SwiftNIO event loop. A call's task prefers its connection's event loop, so
/// it reads its request parts, runs its handler and writes its response on the thread that reads
/// and writes the connection, with no hand-off to another thread and back for every call. A task
/// that waits (on a database, another service) leaves the loop free meanwhile.
final class EventLoopTaskExecutor: TaskExecutor {
  private let eventLoop: any EventLoop

  init(_ eventLoop: any EventLoop) {
    self.eventLoop = eventLoop
  }

  func enqueue(_ job: consuming ExecutorJob) {
    let job = UnownedJob(job)
    let executor = asUnownedTaskExecutor()
    eventLoop.execute { job.runSynchronously(on: executor) }
  }
}
