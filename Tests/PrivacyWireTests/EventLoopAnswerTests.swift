import GRPCCore
import GRPCNIOTransportHTTP2
import Foundation
import NIOCore
import Synchronization
import Testing

@testable import PrivacyWire

/// Request bytes sent and received as they are.
struct RawBytes: MessageSerializer, MessageDeserializer {
  func serialize<Bytes: GRPCContiguousBytes>(_ message: [UInt8]) throws -> Bytes { Bytes(message) }
  func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> [UInt8] {
    serializedMessageBytes.withUnsafeBytes { Array($0) }
  }
}

@Suite("Answers on the event loop")
struct EventLoopAnswerTests {
  static let echo = MethodDescriptor(fullyQualifiedService: "test.Wire", method: "Echo")
  /// Answered later from another thread: after as many milliseconds as the request's first byte
  /// says, or never for 255; the response carries `x-answered-later: yes` in its headers.
  static let later = MethodDescriptor(fullyQualifiedService: "test.Wire", method: "Later")

  /// Small windows and a small request budget, so that a few hundred KiB held show.
  static let limits = WireLimits(
    maxMessageBytes: 1 << 20, maxConcurrentStreams: 100, streamWindowBytes: 64 << 10, connectionWindowBytes: 128 << 10,
    connectionBudgetBytes: 256 << 10, idleTimeout: .seconds(60), keepaliveTime: .seconds(60), keepaliveTimeout: .seconds(20))

  /// Replies kept by `test.Wire/Later` that are never to be sent (first byte 255).
  static let unsent = Mutex<[UnaryReply]>([])
  /// Answered only when a test sends the replies kept here.
  static let held = MethodDescriptor(fullyQualifiedService: "test.Wire", method: "Held")
  static let heldReplies = Mutex<[UnaryReply]>([])

  static let answers: [MethodDescriptor: EventLoopAnswer] = [
    echo: { request, _, reply in reply(request.map { UnaryResponse(message: $0) }) },
    held: { _, _, reply in heldReplies.withLock { $0.append(reply) } },
    later: { request, _, reply in
      guard case .success(let message) = request, let delay = message.first else {
        reply(.failure(RPCError(code: .invalidArgument, message: "no delay given")))
        return
      }
      if delay == 255 {
        unsent.withLock { $0.append(reply) }
        return
      }
      Thread.detachNewThread {
        Thread.sleep(forTimeInterval: Double(delay) / 1000)
        reply(.success(UnaryResponse(message: message, metadata: ["x-answered-later": "yes"])))
      }
    },
  ]

  /// Runs a transport answering `test.Wire/Echo`, `Later` and `Held` on its event loop (every
  /// other method is UNIMPLEMENTED) and a client of it, whose calls time out after `clientTimeout`.
  func withEchoServer(
    limits: WireLimits = limits, clientTimeout: Duration? = .seconds(5), _ body: (GRPCClient<HTTP2ClientTransport.Posix>) async throws -> Void
  ) async throws {
    let transport = WireServerTransport(
      host: "127.0.0.1", port: 0, eventLoops: 1, limits: limits, eventLoopAnswers: Self.answers,
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
        serviceConfig: ServiceConfig(methodConfig: clientTimeout.map { [.init(names: [.init(service: "")], timeout: $0)] } ?? []))
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

  /// Calls `test.Wire/Later`; returns the message and the `x-answered-later` header.
  func later(
    _ client: GRPCClient<HTTP2ClientTransport.Posix>, _ bytes: [UInt8], timeout: Duration? = nil
  ) async throws -> (message: [UInt8], header: String?) {
    var options = CallOptions.defaults
    if let timeout { options.timeout = timeout }
    return try await client.unary(
      request: ClientRequest(message: bytes), descriptor: Self.later, serializer: RawBytes(), deserializer: RawBytes(),
      options: options
    ) { response in
      (try response.message, response.metadata[stringValues: "x-answered-later"].first(where: { _ in true }))
    }
  }

  @Test("an answer given later from another thread reaches its caller, headers and all, many at once")
  func answersGivenLater() async throws {
    try await withEchoServer { client in
      let answered = try await later(client, [20, 1, 2, 3])
      #expect(answered.message == [20, 1, 2, 3])
      #expect(answered.header == "yes")
      // 200 calls in flight on one connection, answered out of order.
      try await withThrowingTaskGroup(of: Bool.self) { group in
        for index in 0..<200 {
          let request: [UInt8] = [UInt8(index % 50), UInt8(index % 256), UInt8(index / 256)]
          group.addTask { try await later(client, request).message == request }
        }
        for try await matched in group { #expect(matched) }
      }
      #expect(try await echo(client, [9]) == [9])
    }
  }

  @Test("a caller's deadline ends a call whose answer has not come; a reply after it, or after a reset, changes nothing")
  func deadlinesAndResetsOvertakeLateAnswers() async throws {
    try await withEchoServer { client in
      let start = ContinuousClock.now
      let error = await #expect(throws: RPCError.self) { try await later(client, [255], timeout: .milliseconds(300)) }
      #expect(error?.code == .deadlineExceeded)
      #expect(ContinuousClock.now - start < .seconds(3))
      // Answered after its deadline passed: the reply finds the call over.
      let late = await #expect(throws: RPCError.self) { try await later(client, [200], timeout: .milliseconds(50)) }
      #expect(late?.code == .deadlineExceeded)
      // Cancelled by the client (RST_STREAM) before its answer.
      let cancelled = Task { try await later(client, [150]) }
      try await Task.sleep(for: .milliseconds(50))
      cancelled.cancel()
      _ = await cancelled.result
      try await Task.sleep(for: .milliseconds(300))
      // Replies kept past the end of their calls are dropped when sent at last.
      for reply in Self.unsent.withLock({ $0 }) { reply(.success(UnaryResponse(message: [1]))) }
      #expect(try await later(client, [1, 7]).message == [1, 7])
      #expect(try await echo(client, [4, 2]) == [4, 2])
    }
  }

  @Test("calls their deadline answered count until their method replies: past twice the stream limit new streams are refused until then")
  func deadlineAnsweredCallsCountUntilReplied() async throws {
    let limits = WireLimits(
      maxMessageBytes: 1 << 20, maxConcurrentStreams: 4, streamWindowBytes: 64 << 10, connectionWindowBytes: 128 << 10,
      connectionBudgetBytes: 256 << 10, idleTimeout: .seconds(60), keepaliveTime: .seconds(60), keepaliveTimeout: .seconds(20))
    // No deadline of the client's own: the server's timer answers each call (the client never
    // resets one), as it does for a caller whose work goes on behind the answer.
    try await withEchoServer(limits: limits, clientTimeout: nil) { client in
      for _ in 0..<8 {
        let error = await #expect(throws: RPCError.self) {
          try await client.unary(
            request: ClientRequest(message: [1], metadata: ["grpc-timeout": "100m"]), descriptor: Self.held, serializer: RawBytes(),
            deserializer: RawBytes(), options: .defaults
          ) { try $0.message }
        }
        #expect(error?.code == .deadlineExceeded)
      }
      // Eight answered, none replied: twice the limit of four, so the next stream is refused.
      let refused = await #expect(throws: RPCError.self) { try await echo(client, [1]) }
      #expect(refused?.code == .unavailable, "\(String(describing: refused))")
      for reply in Self.heldReplies.withLock({ replies in defer { replies.removeAll() }; return replies }) {
        reply(.success(UnaryResponse(message: [1])))
      }
      // The replies reach the event loop, are dropped, and give the connection its streams back.
      var answered: [UInt8]?
      for _ in 0..<100 where answered == nil {
        answered = try? await echo(client, [2])
        if answered == nil { try await Task.sleep(for: .milliseconds(20)) }
      }
      #expect(answered == [2])
    }
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
