import GRPCCore
import GRPCNIOTransportHTTP2
import NIOCore
import Testing

@testable import PrivacyWire

/// Request bytes sent and received as they are.
struct RawBytes: MessageSerializer, MessageDeserializer {
  func serialize<Bytes: GRPCContiguousBytes>(_ message: [UInt8]) throws -> Bytes { Bytes(message) }
  func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> [UInt8] {
    serializedMessageBytes.withUnsafeBytes { Array($0) }
  }
}

@Suite("Synchronous answers on the wire")
struct SynchronousAnswerTests {
  static let echo = MethodDescriptor(fullyQualifiedService: "test.Wire", method: "Echo")

  /// Small windows and a small request budget, so that a few hundred KiB held show.
  static let limits = WireLimits(
    maxMessageBytes: 1 << 20, maxConcurrentStreams: 100, streamWindowBytes: 64 << 10, connectionWindowBytes: 128 << 10,
    connectionBudgetBytes: 256 << 10, idleTimeout: .seconds(60), keepaliveTime: .seconds(60), keepaliveTimeout: .seconds(20))

  /// Runs a transport answering `test.Wire/Echo` on its event loop (every other method is
  /// UNIMPLEMENTED) and a client of it.
  func withEchoServer(_ body: (GRPCClient<HTTP2ClientTransport.Posix>) async throws -> Void) async throws {
    let transport = WireServerTransport(
      host: "127.0.0.1", port: 0, eventLoops: 1, limits: Self.limits, synchronous: [Self.echo: { request, _ in request }],
      onAccept: { $0.eventLoop.makeSucceededVoidFuture() }, onHandshake: { _ in })
    try await withThrowingDiscardingTaskGroup { group in
      group.addTask {
        try await transport.listen { stream, _ in
          try? await stream.outbound.write(.status(Status(code: .unimplemented, message: "no such method"), [:]))
          await stream.outbound.finish()
        }
      }
      let port = try await transport.boundPort
      let client = try HTTP2ClientTransport.Posix(
        target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext,
        serviceConfig: ServiceConfig(methodConfig: [.init(names: [.init(service: "")], timeout: .seconds(5))]))
      try await withGRPCClient(transport: client) { try await body($0) }
      transport.beginGracefulShutdown()
    }
  }

  func echo(_ client: GRPCClient<HTTP2ClientTransport.Posix>, _ bytes: [UInt8]) async throws -> [UInt8] {
    try await client.unary(
      request: ClientRequest(message: bytes), descriptor: Self.echo, serializer: RawBytes(), deserializer: RawBytes(),
      options: .defaults
    ) { try $0.message }
  }

  @Test("requests reset before their end give their bytes back: the connection takes as much again")
  func resetsReleaseTheirBytes() async throws {
    try await withEchoServer { client in
      #expect(try await echo(client, [1, 2, 3]) == [1, 2, 3])
      // 400 KiB in all, above the connection's 256 KiB budget if they stayed counted.
      for _ in 0..<4 {
        let call = Task {
          try await client.clientStreaming(
            request: StreamingClientRequest(of: [UInt8].self) { writer in
              try await writer.write(Array(repeating: 7, count: 100 << 10))
              try await Task.sleep(for: .seconds(30))
            },
            descriptor: Self.echo, serializer: RawBytes(), deserializer: RawBytes(), options: .defaults
          ) { try $0.message }
        }
        try await Task.sleep(for: .milliseconds(300))
        call.cancel()
        _ = await call.result
      }
      // Counted still, they would keep the server from opening the flow-control windows again:
      // these would stall past the 64 KiB stream window and end at their 5 s deadline.
      for _ in 0..<3 {
        let large = [UInt8](repeating: 9, count: 200 << 10)
        #expect(try await echo(client, large) == large)
      }
    }
  }
}
