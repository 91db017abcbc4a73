import Foundation
import PrivacyKit
import Synchronization
import Testing

@Suite("Blocking workers: threads of their own for work that may wait on the disk")
struct BlockingWorkersTests {
  @Test("every item submitted, from several threads at once, runs exactly once")
  func everyItemOnce() async {
    let workers = BlockingWorkers(count: 2, name: "test-workers")
    let count = 10_000
    let ran = Mutex([Int](repeating: 0, count: count))
    let finished = Mutex(0)
    await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
      DispatchQueue.concurrentPerform(iterations: 4) { part in
        for index in stride(from: part, to: count, by: 4) {
          workers.submit {
            ran.withLock { $0[index] += 1 }
            if finished.withLock({ total in total += 1; return total }) == count { done.resume() }
          }
        }
      }
    }
    #expect(ran.withLock { $0.allSatisfy { $0 == 1 } })
  }

  @Test("one worker runs items in the order given")
  func order() async {
    let workers = BlockingWorkers(count: 1, name: "test-worker")
    let seen = Mutex<[Int]>([])
    await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
      for index in 0..<100 {
        workers.submit {
          seen.withLock { $0.append(index) }
          if index == 99 { done.resume() }
        }
      }
    }
    #expect(seen.withLock { $0 } == Array(0..<100))
  }

  @Test("an item blocked on the disk does not hold the next one: two workers run two items at once")
  func concurrent() async {
    let workers = BlockingWorkers(count: 2, name: "test-workers")
    let released = DispatchSemaphore(value: 0)
    let waited = await withCheckedContinuation { (done: CheckedContinuation<DispatchTimeoutResult, Never>) in
      // The first item waits (as a read waits for the disk) for the second to release it; on a
      // single thread it would wait out its 10 s.
      workers.submit { done.resume(returning: released.wait(timeout: .now() + 10)) }
      workers.submit { released.signal() }
    }
    #expect(waited == .success)
  }
}
