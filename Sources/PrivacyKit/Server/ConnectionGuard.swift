import Foundation
public import Logging
public import NIOCore
import Synchronization

/// Keeps a server's connections within bounds, so silent or half-open connections cannot starve
/// the callers that do work:
/// - at most `maxConnections` open at once; one accepted above that is closed at once (and the
///   refusal logged at most once per `refusalLogInterval`);
/// - a connection that has not opened a stream within `firstRequestTimeout` of being accepted (up
///   to a fifth more, at random) is closed: the TCP and HTTP/2 handshakes and the first request
///   must fit in it.
///
/// Idle connections (no stream for `GRPC_IDLE_TIMEOUT_S`) and dead peers (unanswered keepalive
/// pings) are closed by the transport itself.
public final class ConnectionGuard: Sendable {
  public let maxConnections: Int
  public let firstRequestTimeout: Duration
  static let refusalLogInterval = Duration.seconds(10)

  private struct State {
    var open = 0
    /// Connections accepted that have not opened a stream yet.
    var awaitingFirstStream: Set<ObjectIdentifier> = []
    var lastRefusalLogged: ContinuousClock.Instant?
    var refusedSinceLog = 0
  }

  private let state = Mutex(State())
  private let logger: Logger

  public init(maxConnections: Int, firstRequestTimeout: Duration, logger: Logger) {
    self.maxConnections = maxConnections
    self.firstRequestTimeout = firstRequestTimeout
    self.logger = logger
  }

  /// How many connections are open.
  public var openConnections: Int { state.withLock { $0.open } }

  /// Called for each accepted connection; one above the limit is closed and the future failed.
  public func accepted(_ channel: any NIOCore.Channel) -> EventLoopFuture<Void> {
    let id = ObjectIdentifier(channel)
    let (admitted, refusedToLog) = state.withLock { state -> (Bool, Int?) in
      guard state.open < maxConnections else {
        state.refusedSinceLog += 1
        let now = ContinuousClock.now
        guard state.lastRefusalLogged.map({ now - $0 >= Self.refusalLogInterval }) ?? true else { return (false, nil) }
        state.lastRefusalLogged = now
        defer { state.refusedSinceLog = 0 }
        return (false, state.refusedSinceLog)
      }
      state.open += 1
      state.awaitingFirstStream.insert(id)
      return (true, nil)
    }
    if let refused = refusedToLog {
      logger.warning(
        "connections refused: the server holds its maximum of open connections (GRPC_MAX_CONNECTIONS)",
        metadata: ["net.connections.max": "\(maxConnections)", "net.connections.refused": "\(refused)"])
    }
    guard admitted else {
      channel.close(promise: nil)
      return channel.eventLoop.makeFailedFuture(ConnectionRefused())
    }
    channel.closeFuture.whenComplete { [self] _ in
      state.withLock { state in
        state.open -= 1
        state.awaitingFirstStream.remove(id)
      }
    }
    // Up to a fifth later at random, so a flood of connections opened together does not close
    // together in one burst of work.
    let delay = TimeAmount(firstRequestTimeout) + .nanoseconds(Int64.random(in: 0...(TimeAmount(firstRequestTimeout).nanoseconds / 5)))
    channel.eventLoop.scheduleTask(in: delay) { [self] in
      if state.withLock({ $0.awaitingFirstStream.contains(id) }) { channel.close(promise: nil) }
    }
    return channel.eventLoop.makeSucceededVoidFuture()
  }

  /// Called for each stream a connection opens.
  public func streamOpened(on connection: any NIOCore.Channel) {
    _ = state.withLock { $0.awaitingFirstStream.remove(ObjectIdentifier(connection)) }
  }

  struct ConnectionRefused: Error {}
}
