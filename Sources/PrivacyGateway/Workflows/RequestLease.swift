import Foundation
import GRPCCore
import PrivacyKit

/// One run of a request at a time, across every gateway on the database: ExecuteRequest holds
/// the lease `request:<id>` from before it reads the request until it answers, renewing it every
/// third of `GATEWAY_REQUEST_LEASE_S` while the run goes on, and gives it back then. A gateway
/// that died half-way stops renewing, so the request waits at most that long before another call
/// resumes it from the step log. A run that finds its lease taken by another stops.
///
/// A renewal the database cannot answer is not a lost lease: the run goes on, and its steps,
/// each audited write-ahead in that same database, fail closed while it is unreachable.
struct RequestLease {
  let context: WorkflowContext

  /// Runs `body` holding the request's lease; ABORTED when another run holds it.
  func holding<T: Sendable>(_ requestID: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    guard let store = context.gateway.reactorStore else { return try await body() }
    let name = "request:" + requestID
    let holder = context.call.requestID + "/" + UUID().uuidString.lowercased()
    let duration = context.settings.requestLease
    let now = Date()
    guard try await store.acquireLease(name, holder: holder, now: now, until: now + duration.timeInterval) else {
      throw RPCError(
        code: .aborted, message: "request \(requestID.clipped) is being executed by another call; try again once that call has answered")
    }
    do {
      let result = try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
          while true {
            try await Task.sleep(for: duration / 3)
            let now = Date()
            let renewed = try? await store.acquireLease(name, holder: holder, now: now, until: now + duration.timeInterval)
            if renewed == false {
              throw RPCError(code: .aborted, message: "request \(requestID.clipped) was taken over by another call; this run stopped")
            }
          }
        }
        // The body's result (the renewal never returns one), or the first error.
        defer { group.cancelAll() }
        while let next = try await group.next() {
          if let next { return next }
        }
        preconditionFailure("the body's task always ends with a result or an error")
      }
      try? await store.releaseLease(name, holder: holder)
      return result
    } catch {
      try? await store.releaseLease(name, holder: holder)
      throw error
    }
  }
}
