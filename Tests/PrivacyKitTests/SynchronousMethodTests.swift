import GRPCCore
import GRPCNIOTransportHTTP2
import GRPCProtobuf
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Synchronization
import Testing

/// A synchronous method for the tests, `test.Runtime/Answer`: "fail" throws an error no rule
/// names, "refuse" a status of its own; anything else is SERVING. Each answer notes whether it
/// ran inside a task.
final class AnswerMethod: Sendable {
  /// Typed, as generated descriptors are.
  static let descriptor = MethodDescriptor(fullyQualifiedService: "test.Runtime", method: "Answer", type: .unary)
  let ranInTask = Mutex<[Bool]>([])

  var method: SynchronousMethod {
    SynchronousMethod(Self.descriptor) { [self] (request: Grpc_Health_V1_HealthCheckRequest) throws -> Grpc_Health_V1_HealthCheckResponse in
      self.ranInTask.withLock { $0.append(withUnsafeCurrentTask { $0 != nil }) }
      switch request.service {
      case "fail": throw UnexpectedFailure()
      case "refuse": throw RPCError(code: .failedPrecondition, message: "refused as asked")
      default: return .with { $0.status = .serving }
      }
    }
  }
}

private func answer(_ client: GRPCClient<HTTP2ClientTransport.Posix>, _ service: String) async throws -> Grpc_Health_V1_HealthCheckResponse {
  try await client.unary(
    request: ClientRequest(message: .with { $0.service = service }), descriptor: AnswerMethod.descriptor,
    serializer: ProtobufSerializer<Grpc_Health_V1_HealthCheckRequest>(),
    deserializer: ProtobufDeserializer<Grpc_Health_V1_HealthCheckResponse>(), options: .defaults
  ) { try $0.message }
}

/// Sends `count` request messages on one call to the synchronous method.
private func answerMany(_ client: GRPCClient<HTTP2ClientTransport.Posix>, count: Int) async throws -> Grpc_Health_V1_HealthCheckResponse {
  try await client.clientStreaming(
    request: StreamingClientRequest(of: Grpc_Health_V1_HealthCheckRequest.self) { writer in
      for _ in 0..<count { try await writer.write(.with { $0.service = "x" }) }
    },
    descriptor: AnswerMethod.descriptor, serializer: ProtobufSerializer<Grpc_Health_V1_HealthCheckRequest>(),
    deserializer: ProtobufDeserializer<Grpc_Health_V1_HealthCheckResponse>(), options: .defaults
  ) { try $0.message }
}

@Suite("Synchronous methods")
struct SynchronousMethodTests {
  func server(_ answer: AnswerMethod, metrics: ServerMetrics) throws -> PrivacyServer {
    let directory = try TestDirectory()
    let configuration = try ServiceConfiguration(kind: .consent, environment: testEnvironment(database: directory.path("unused.sqlite")))
    return PrivacyServer(
      configuration: configuration, services: [SleepService(started: {})], serviceNames: ["test.Runtime"],
      synchronousMethods: [answer.method], metrics: metrics, logger: silentLogger)
  }

  @Test("on the nghttp2 transport a synchronous method is answered outside any task, and counted like any call")
  func answeredOnTheEventLoop() async throws {
    let method = AnswerMethod()
    let metrics = ServerMetrics()
    try await withRunningServer(try server(method, metrics: metrics)) { port async throws in
      try await withTestClient(port: port) { client async throws in
        for _ in 0..<3 { #expect(try await answer(client, "ann").status == .serving) }
        // Calls GRPCCore runs still run beside it, on the same connection.
        #expect(try await sleep(client, milliseconds: 0).status == .serving)
      }
    }
    #expect(method.ranInTask.withLock { $0 } == [false, false, false])
    let text = metrics.registry.emitToString()
    #expect(text.contains(#"grpc_server_handled_total{grpc_method="test.Runtime/Answer",grpc_code="OK"} 3"#))
  }

  @Test("a synchronous method keeps every rule of a call: credential, message count and size, decoding, errors, metrics")
  func sameRules() async throws {
    let method = AnswerMethod()
    let metrics = ServerMetrics()
    try await withRunningServer(try server(method, metrics: metrics)) { port async throws in
      try await withTestClient(port: port, token: nil) { client async throws in
        let error = await capturedRPCError { try await answer(client, "ann") }
        #expect(error?.code == .unauthenticated)
        #expect(error?.message == "missing or invalid internal credential")
      }
      try await withTestClient(port: port) { client async throws in
        let refused = await capturedRPCError { try await answer(client, "refuse") }
        #expect(refused?.code == .failedPrecondition)
        #expect(refused?.message == "refused as asked")
        let failed = await capturedRPCError { try await answer(client, "fail") }
        #expect(failed?.code == .internalError)
        #expect(failed?.message == "internal error (request id test-request)")
        let none = await capturedRPCError { try await answerMany(client, count: 0) }
        #expect(none?.code == .unimplemented)
        #expect(none?.message == "Answer takes exactly one request message, got none")
        let two = await capturedRPCError { try await answerMany(client, count: 2) }
        #expect(two?.code == .unimplemented)
        #expect(two?.message == "Answer takes exactly one request message, got more")
        let large = await capturedRPCError { try await answer(client, String(repeating: "x", count: 4 * 1024 * 1024 + 10)) }
        #expect(large?.code == .resourceExhausted)
        #expect(large?.message.hasSuffix("exceeds the limit of 4194304 bytes") == true)
        // Bytes that are no HealthCheckRequest: a field, then a tag cut short.
        let garbage = await capturedRPCError {
          try await client.unary(
            request: ClientRequest(message: [UInt8]([0x08, 0x01, 0xFF])), descriptor: AnswerMethod.descriptor,
            serializer: RawBytesSerializer(), deserializer: RawBytesDeserializer(), options: .defaults
          ) { try $0.message }
        }
        #expect(garbage?.code == .invalidArgument)
        #expect(garbage?.message == "the request message is not a valid grpc.health.v1.HealthCheckRequest")
        #expect(try await answer(client, "ann").status == .serving)
      }
    }
    // The malformed grpc-timeout on a synchronous method is in HostileInputTests (curl).
    let text = metrics.registry.emitToString()
    for code in ["OK", "UNAUTHENTICATED", "FAILED_PRECONDITION", "INTERNAL", "RESOURCE_EXHAUSTED", "INVALID_ARGUMENT"] {
      #expect(text.contains(#"grpc_server_handled_total{grpc_method="test.Runtime/Answer",grpc_code="\#(code)"} 1"#), "\(code)")
    }
    #expect(text.contains(#"grpc_server_handled_total{grpc_method="test.Runtime/Answer",grpc_code="UNIMPLEMENTED"} 2"#))
  }
}

/// Request bytes sent as they are.
struct RawBytesSerializer: MessageSerializer {
  func serialize<Bytes: GRPCContiguousBytes>(_ message: [UInt8]) throws -> Bytes { Bytes(message) }
}

struct RawBytesDeserializer: MessageDeserializer {
  func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> [UInt8] {
    serializedMessageBytes.withUnsafeBytes { Array($0) }
  }
}
