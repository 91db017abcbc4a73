import Synchronization

/// A first-come, first-served lock for async code: holders may suspend (await a database write)
/// while others wait, unlike `Mutex`. Used to serialize a service's writes so that rules are
/// checked against the state the write will actually follow.
public final class AsyncLock: Sendable {
  private struct State {
    var locked = false
    var waiters: [CheckedContinuation<Void, Never>] = []
  }

  private let state = Mutex(State())

  public init() {}

  public func withLock<T: Sendable>(_ body: () async throws -> T) async rethrows -> T {
    await lock()
    defer { unlock() }
    return try await body()
  }

  private func lock() async {
    let acquired = state.withLock { state in
      if state.locked { return false }
      state.locked = true
      return true
    }
    if acquired { return }
    await withCheckedContinuation { continuation in
      let acquiredNow = state.withLock { state in
        if state.locked {
          state.waiters.append(continuation)
          return false
        }
        state.locked = true
        return true
      }
      if acquiredNow { continuation.resume() }
    }
  }

  private func unlock() {
    let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
      if state.waiters.isEmpty {
        state.locked = false
        return nil
      }
      // Ownership passes straight to the next waiter; `locked` stays true.
      return state.waiters.removeFirst()
    }
    next?.resume()
  }
}
