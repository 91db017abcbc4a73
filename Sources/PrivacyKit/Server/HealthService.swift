public import GRPCCore
public import PrivacyProtocol
import Foundation
import Synchronization

/// `grpc.health.v1.Health` for one server: the server as a whole (empty name) and each of its
/// services share one status, NOT_SERVING until the server is bound, SERVING while it runs, and
/// NOT_SERVING again from the moment it starts draining. `Check` also answers NOT_SERVING while
/// the service says it is not ready (a replica that lost its database); `Watch` follows the
/// server's state only.
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
  private let ready: @Sendable () -> Bool
  private let state = Mutex(State())

  /// - Parameters:
  ///   - services: fully qualified names of the services the server hosts.
  ///   - ready: whether the services can answer, asked at each `Check`.
  public init(services: [String], ready: @escaping @Sendable () -> Bool = { true }) {
    self.names = Set(services + [""])
    self.ready = ready
  }

  /// Sets the status of every service and tells watchers.
  public func setServing(_ serving: Bool) {
    state.withLock { state in
      state.serving = serving
      for watcher in state.watchers.values where watcher.known {
        watcher.continuation.yield(serving ? .serving : .notServing)
      }
    }
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
    let serving = state.withLock { $0.serving } && ready()
    return .with { $0.status = serving ? .serving : .notServing }
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
      continuation.yield(known ? (state.serving ? .serving : .notServing) : .serviceUnknown)
      if !state.finished { state.watchers[id] = Watcher(known: known, continuation: continuation) }
      return state.finished
    }
    if finished { continuation.finish() }
    for await status in stream {
      try await response.write(.with { $0.status = status })
    }
  }
}
