import Foundation
import NIOCore
import Synchronization

/// A few threads of their own for work that may block on the disk (a SQLite read), handed over
/// from an event loop that must not wait for it. Work runs in the order given, each item on
/// whichever thread is free. A task or a dispatch queue would do the same at a higher price per
/// item: both wake a thread of a shared pool for each, where these threads, once busy, take the
/// next item without a system call.
public final class BlockingWorkers: Sendable {
  private let queue = Mutex(CircularBuffer<@Sendable () -> Void>())
  /// Counts the items queued; a worker waits on it when none is.
  private let available = DispatchSemaphore(value: 0)

  /// Starts `count` threads (at least one; by default one a core), named `name` where `top -H`
  /// and profilers show threads (at most 15 bytes of it). They live as long as the process: keep
  /// one set per kind of work, in a static.
  public init(count: Int? = nil, name: String) {
    for _ in 0..<max(1, count ?? System.coreCount) {
      let thread = Thread { [self] in
        // Named from inside: a name set before `start()` never reached the system's thread.
        Thread.current.name = name
        while true {
          available.wait()
          let work = queue.withLock { $0.removeFirst() }
          work()
        }
      }
      thread.start()
    }
  }

  /// Runs `work` on one of the threads.
  public func submit(_ work: @escaping @Sendable () -> Void) {
    queue.withLock { $0.append(work) }
    available.signal()
  }
}
