import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import NIOCore
import PrivacyWire

/// The two server transports a service can run on (`GRPC_TRANSPORT`).
public enum TransportKind: String, Sendable, CaseIterable {
  /// PrivacyWire: libnghttp2 driven by SwiftNIO event loops (the default).
  case nghttp2
  /// grpc-swift-nio-transport, kept selectable while both exist.
  case nio
}

/// A server transport that can say which port it bound.
protocol BoundTransport: ServerTransport {
  var boundPort: Int { get async throws }
}

extension WireServerTransport: BoundTransport {}

extension HTTP2ServerTransport.Posix: BoundTransport {
  var boundPort: Int {
    get async throws {
      let bound = try await listeningAddress
      return bound.ipv4?.port ?? bound.ipv6?.port ?? 0
    }
  }
}

/// Builds either transport with the same limits and connection hygiene.
enum ServerTransports {
  /// - Parameters:
  ///   - backend: the server's caller is the gateway, which relays every client's cancellations
  ///     over one connection: it may reset ten times as many streams at once and about ten times
  ///     as many per second as one client (the gateway holds each of its clients to nghttp2's
  ///     defaults).
  ///   - eventLoopAnswers: the methods answered on the event loops.
  static func wire(
    _ configuration: ServiceConfiguration, connections: ConnectionGuard, backend: Bool,
    eventLoopAnswers: [MethodDescriptor: EventLoopAnswer] = [:], logger: Logger
  ) -> WireServerTransport {
    let tls = configuration.tls
    return WireServerTransport(
      host: configuration.host, port: configuration.port, eventLoops: configuration.eventLoops,
      limits: WireLimits(
        maxMessageBytes: PrivacyServer.maxMessageBytes, maxConcurrentStreams: PrivacyServer.maxConcurrentStreams,
        maxHeaderListBytes: PrivacyServer.maxMetadataBytes, resetBurst: backend ? 10_000 : 1000,
        resetsPerSecond: backend ? 300 : 33, idleTimeout: configuration.idleTimeout,
        keepaliveTime: PrivacyServer.keepaliveTime, keepaliveTimeout: PrivacyServer.keepaliveTimeout),
      eventLoopAnswers: eventLoopAnswers,
      onAccept: { channel in
        connections.accepted(channel).flatMapThrowing { try tls?.secure(channel, logger: logger) }
      },
      onHandshake: { connections.handshakeCompleted(on: $0) })
  }

  static func nio(_ configuration: ServiceConfiguration, connections: ConnectionGuard, logger: Logger) throws -> HTTP2ServerTransport.Posix {
    let tls = configuration.tls
    var config = HTTP2ServerTransport.Posix.Config.defaults
    config.rpc.maxRequestPayloadSize = PrivacyServer.transportMessageCap
    config.http2.maxConcurrentStreams = PrivacyServer.maxConcurrentStreams
    if !configuration.flushCoalescing { config.connection.flushCoalescing = nil }
    config.connection.maxIdleTime = configuration.idleTimeout
    config.connection.keepalive.time = PrivacyServer.keepaliveTime
    config.connection.keepalive.timeout = PrivacyServer.keepaliveTimeout
    config.channelDebuggingCallbacks.onAcceptTCPConnection = { channel in
      connections.accepted(channel).flatMapThrowing { try tls?.checkPeer(on: channel, logger: logger) }
    }
    // This transport reports no SETTINGS, so its handshake counts as complete at the first stream:
    // a client connected ahead of its traffic is closed after the handshake timeout and reconnects.
    config.channelDebuggingCallbacks.onAcceptHTTP2Stream = { stream in
      if let connection = stream.parent { connections.handshakeCompleted(on: connection) }
      return stream.eventLoop.makeSucceededVoidFuture()
    }
    let host = configuration.host
    let address: GRPCNIOTransportCore.SocketAddress =
      IPAddress.isIPv6(host) ? .ipv6(host: host, port: configuration.port) : .ipv4(host: host, port: configuration.port)
    return HTTP2ServerTransport.Posix(address: address, transportSecurity: try tls?.nioSecurity() ?? .plaintext, config: config)
  }
}
