public import GRPCCore
public import PrivacyProtocol
import Foundation
import Synchronization

/// `grpc.health.v1.Health` for one server: the server as a whole (empty name) and each of its
/// services share one status, NOT_SERVING until the server is bound, SERVING while it runs, and
/// NOT_SERVING again from the moment it starts draining. Both `Check` and `Watch` also answer
/// NOT_SERVING while the service says it is not ready (a replica that lost its database), so a
/// client balancing over replicas by their Watch streams leaves a stale one; `Watch` asks
/// `ready` every `readinessPollInterval`, since a replica goes stale by time passing, with no
/// event to announce it.
public final class HealthService: Grpc_Health_V1_Health.SimpleServiceProtocol, Sendable {
  public static let serviceName = "grpc.health.v1.Health"
  typealias Status = Grpc_Health_V1_HealthCheckResponse.ServingStatus

  private struct State {
    var serving = false
    var finished = false
    var watchers: [UUID: Watcher] = [:]
  }

  private struct Watcher {
    var known: Bool
    var continuation: AsyncStream<Status>.Continuation
  }

  private let names: Set<String>
  private let ready: (@Sendable () -> Bool)?
  private let state = Mutex(State())

  /// How often a Watch stream asks `ready`: the shortest staleness a replica may be set to.
  static let readinessPollInterval: Duration = .milliseconds(100)

  /// - Parameters:
  ///   - services: fully qualified names of the services the server hosts.
  ///   - ready: whether the services can answer, asked at each `Check` and by each Watch
  ///     stream; nil when they always can while the server runs.
  public init(services: [String], ready: (@Sendable () -> Bool)? = nil) {
    self.names = Set(services + [""])
    self.ready = ready
  }

  /// Sets the status of every service and tells watchers.
  public func setServing(_ serving: Bool) {
    state.withLock { state in
      state.serving = serving
      let status = status(serving: serving)
      for watcher in state.watchers.values where watcher.known { watcher.continuation.yield(status) }
    }
  }

  /// SERVING while the server runs and the services are ready.
  private func status(serving: Bool) -> Status {
    serving && ready?() != false ? .serving : .notServing
  }

  /// Ends every Watch stream so a draining server is not held open by them.
  public func finishWatchers() {
    // Finished outside the lock: finishing runs `onTermination`, which takes the lock.
    let watchers = state.withLock { state in
      state.finished = true
      defer { state.watchers = [:] }
      return state.watchers.values
    }
    for watcher in watchers { watcher.continuation.finish() }
  }

  public func check(request: Grpc_Health_V1_HealthCheckRequest, context: ServerContext) async throws -> Grpc_Health_V1_HealthCheckResponse {
    guard names.contains(request.service) else {
      throw RPCError(code: .notFound, message: "unknown service \(request.service.clipped)")
    }
    return .with { $0.status = status(serving: state.withLock { $0.serving }) }
  }

  public func watch(
    request: Grpc_Health_V1_HealthCheckRequest,
    response: RPCWriter<Grpc_Health_V1_HealthCheckResponse>,
    context: ServerContext
  ) async throws {
    // An unknown name gets SERVICE_UNKNOWN and, per the protocol, an open call; our set of names
    // never changes, so it only ends when the client leaves or the server drains.
    let known = names.contains(request.service)
    let id = UUID()
    let (stream, continuation) = AsyncStream<Status>.makeStream(bufferingPolicy: .bufferingNewest(1))
    continuation.onTermination = { [weak self] _ in
      _ = self?.state.withLock { $0.watchers.removeValue(forKey: id) }
    }
    let finished = state.withLock { state in
      continuation.yield(known ? status(serving: state.serving) : .serviceUnknown)
      if !state.finished { state.watchers[id] = Watcher(known: known, continuation: continuation) }
      return state.finished
    }
    if finished { continuation.finish() }
    try await withThrowingTaskGroup(of: Void.self) { group in
      if known, ready != nil {
        group.addTask {
          while true {
            try await Task.sleep(for: Self.readinessPollInterval)
            continuation.yield(self.status(serving: self.state.withLock { $0.serving }))
          }
        }
      }
      // Only changes are sent, as the protocol asks.
      var sent: Status?
      for await status in stream where status != sent {
        sent = status
        try await response.write(.with { $0.status = status })
      }
      group.cancelAll()
    }
  }
}
