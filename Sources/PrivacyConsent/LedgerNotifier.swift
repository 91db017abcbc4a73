import Foundation
import Synchronization

/// Wakes change-feed watchers when the ledger grows, and ends them when the server drains.
final class LedgerNotifier: Sendable {
  private struct Waiter {
    var after: UInt64
    var continuation: CheckedContinuation<Bool, Never>
  }

  private struct State {
    var head: UInt64
    var closed = false
    var waiters: [UUID: Waiter] = [:]
    var cancelled: Set<UUID> = []
  }

  private let state: Mutex<State>

  init(head: UInt64) {
    self.state = Mutex(State(head: head))
  }

  func advance(to sequence: UInt64) {
    let ready = state.withLock { state -> [CheckedContinuation<Bool, Never>] in
      state.head = max(state.head, sequence)
      let ready = state.waiters.filter { $0.value.after < state.head }
      for id in ready.keys { state.waiters.removeValue(forKey: id) }
      return ready.values.map(\.continuation)
    }
    for continuation in ready { continuation.resume(returning: true) }
  }

  /// Ends every wait, now and later.
  func close() {
    let waiting = state.withLock { state -> [CheckedContinuation<Bool, Never>] in
      state.closed = true
      defer { state.waiters = [:] }
      return state.waiters.values.map(\.continuation)
    }
    for continuation in waiting { continuation.resume(returning: false) }
  }

  /// How a wait of at most some period ended.
  enum Outcome: Sendable {
    /// The ledger holds an event after the sequence.
    case grew
    /// The period passed without one.
    case quiet
    /// The notifier closed or the waiting task was cancelled.
    case closed
  }

  /// Waits until the ledger holds an event after `sequence`, for at most `period`.
  func wait(after sequence: UInt64, atMost period: Duration) async -> Outcome {
    await withTaskGroup(of: Outcome.self) { group in
      group.addTask { await self.wait(after: sequence) ? .grew : .closed }
      group.addTask {
        do {
          try await Task.sleep(for: period)
          return .quiet
        } catch {
          return .closed
        }
      }
      let first = await group.next() ?? .closed
      group.cancelAll()
      return first
    }
  }

  /// Waits until the ledger holds an event after `sequence`: true then, false when closed or
  /// the waiting task is cancelled.
  func wait(after sequence: UInt64) async -> Bool {
    let id = UUID()
    return await withTaskCancellationHandler {
      await withCheckedContinuation { continuation in
        let immediate: Bool? = state.withLock { state in
          if state.closed || state.cancelled.remove(id) != nil { return false }
          if state.head > sequence { return true }
          state.waiters[id] = Waiter(after: sequence, continuation: continuation)
          return nil
        }
        if let immediate { continuation.resume(returning: immediate) }
      }
    } onCancel: {
      let waiter = state.withLock { state -> Waiter? in
        if let waiter = state.waiters.removeValue(forKey: id) { return waiter }
        state.cancelled.insert(id)
        return nil
      }
      waiter?.continuation.resume(returning: false)
    }
  }
}
