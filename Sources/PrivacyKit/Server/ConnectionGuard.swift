import Foundation
public import Logging
public import NIOCore
import Synchronization

/// Keeps a server's connections within bounds, so silent or half-open connections cannot starve
/// the callers that do work:
/// - at most `maxConnections` open at once; one accepted above that is closed at once (and the
///   refusal logged at most once per `refusalLogInterval`);
/// - a connection that has not completed the HTTP/2 handshake (the client's preface and SETTINGS)
///   within `handshakeTimeout` of being accepted (up to a fifth more, at random) is closed.
///
/// Only the handshake is timed here, not the first request: a client that connects ahead of its
/// traffic (the gateway opens its backend connections at start) is a legitimate idle client.
/// Idle connections (no stream for `GRPC_IDLE_TIMEOUT_S`, closed with a GOAWAY) and dead peers
/// (unanswered keepalive pings) are closed by the transport itself.
public final class ConnectionGuard: Sendable {
  public let maxConnections: Int
  public let handshakeTimeout: Duration
  static let refusalLogInterval = Duration.seconds(10)

  private struct State {
    var open = 0
    /// Connections accepted that have not completed the HTTP/2 handshake yet.
    var awaitingHandshake: Set<ObjectIdentifier> = []
    var lastRefusalLogged: ContinuousClock.Instant?
    var refusedSinceLog = 0
  }

  private let state = Mutex(State())
  private let logger: Logger

  public init(maxConnections: Int, handshakeTimeout: Duration, logger: Logger) {
    self.maxConnections = maxConnections
    self.handshakeTimeout = handshakeTimeout
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
      state.awaitingHandshake.insert(id)
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
        state.awaitingHandshake.remove(id)
      }
    }
    // Up to a fifth later at random, so a flood of connections opened together does not close
    // together in one burst of work.
    let delay = TimeAmount(handshakeTimeout) + .nanoseconds(Int64.random(in: 0...(TimeAmount(handshakeTimeout).nanoseconds / 5)))
    channel.eventLoop.scheduleTask(in: delay) { [self] in
      if state.withLock({ $0.awaitingHandshake.contains(id) }) { channel.close(promise: nil) }
    }
    return channel.eventLoop.makeSucceededVoidFuture()
  }

  /// Called when a connection has completed the HTTP/2 handshake (called again, it changes nothing).
  public func handshakeCompleted(on connection: any NIOCore.Channel) {
    _ = state.withLock { $0.awaitingHandshake.remove(ObjectIdentifier(connection)) }
  }

  struct ConnectionRefused: Error {}
}
