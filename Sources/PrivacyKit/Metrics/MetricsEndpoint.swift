public import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
public import ServiceLifecycle

/// Serves `GET /metrics` (Prometheus text format) over HTTP/1.1 on its own port, so scraping never
/// competes with gRPC traffic for the same listener; over TLS with the service's own certificate
/// (and client CA) when the service has one, so no plaintext port is left outside a local run.
public struct MetricsEndpoint: Service {
  private let host: String
  private let port: Int
  private let registry: PrometheusCollectorRegistry
  private let logger: Logger
  private let tls: ServerTLS?

  public init(host: String, port: Int, tls: ServerTLS?, metrics: ServerMetrics, logger: Logger) {
    self.host = host
    self.port = port
    self.tls = tls
    self.registry = metrics.registry
    self.logger = logger
  }

  public func run() async throws {
    let registry = self.registry
    let tls = self.tls
    let logger = self.logger
    let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
      .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
      .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture { try tls?.secureHTTP(channel, logger: logger) }.flatMap {
          channel.pipeline.configureHTTPServerPipeline()
        }.flatMap {
          channel.pipeline.addHandler(MetricsHTTPHandler(registry: registry))
        }
      }
      .bind(host: host, port: port)
      .get()
    logger.info("metrics endpoint listening", metadata: ["metrics.port": "\(channel.localAddress?.port ?? port)"])
    try await withGracefulShutdownHandler {
      try await channel.closeFuture.get()
    } onGracefulShutdown: {
      channel.close(promise: nil)
    }
  }
}

private final class MetricsHTTPHandler: ChannelInboundHandler, Sendable {
  typealias InboundIn = HTTPServerRequestPart
  typealias OutboundOut = HTTPServerResponsePart

  private let registry: PrometheusCollectorRegistry

  init(registry: PrometheusCollectorRegistry) {
    self.registry = registry
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    guard case .head(let request) = unwrapInboundIn(data) else { return }
    let found = request.method == .GET && request.uri.split(separator: "?").first == "/metrics"
    let body = found ? registry.emitToBuffer() : Array("not found\n".utf8)
    var headers = HTTPHeaders()
    headers.add(name: "content-type", value: found ? "text/plain; version=0.0.4" : "text/plain")
    headers.add(name: "content-length", value: String(body.count))
    headers.add(name: "connection", value: "close")
    let head = HTTPResponseHead(version: request.version, status: found ? .ok : .notFound, headers: headers)
    context.write(wrapOutboundOut(.head(head)), promise: nil)
    context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
    let channel = context.channel
    context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
  }
}
