import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import GRPCProtobuf
import Logging
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import ServiceLifecycle
import Synchronization
import Testing

/// A minimal service for runtime tests: `test.Runtime/Sleep` sleeps for the number of
/// milliseconds in `service` and echoes the request's size, so calls can be kept in flight.
struct SleepService: RegistrableRPCService {
  static let method = MethodDescriptor(fullyQualifiedService: "test.Runtime", method: "Sleep")
  let started: @Sendable () -> Void

  func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
    let started = self.started
    router.registerHandler(
      forMethod: Self.method,
      deserializer: ProtobufDeserializer<Grpc_Health_V1_HealthCheckRequest>(),
      serializer: ProtobufSerializer<Grpc_Health_V1_HealthCheckResponse>()
    ) { request, _ in
      let message = try await ServerRequest(stream: request).message
      if message.service == "fail" { throw UnexpectedFailure() }
      started()
      try await Task.sleep(for: .milliseconds(Int(message.service.prefix(6)) ?? 0))
      return StreamingServerResponse(single: ServerResponse(message: .with { $0.status = .serving }))
    }
  }
}

/// An error no rule names, as a storage failure would be.
struct UnexpectedFailure: Error {}

func sleep(_ client: GRPCClient<HTTP2ClientTransport.Posix>, milliseconds: Int, padding: Int = 0) async throws -> Grpc_Health_V1_HealthCheckResponse {
  try await client.unary(
    request: ClientRequest(message: .with { $0.service = String(milliseconds) + String(repeating: " ", count: padding) }),
    descriptor: SleepService.method,
    serializer: ProtobufSerializer<Grpc_Health_V1_HealthCheckRequest>(),
    deserializer: ProtobufDeserializer<Grpc_Health_V1_HealthCheckResponse>(),
    options: .defaults
  ) { try $0.message }
}

func makeTestServer(started: @escaping @Sendable () -> Void = {}) throws -> PrivacyServer {
  let directory = try TestDirectory()
  let configuration = try ServiceConfiguration(kind: .consent, environment: testEnvironment(database: directory.path("unused.sqlite")))
  return PrivacyServer(
    configuration: configuration, services: [SleepService(started: started)], serviceNames: ["test.Runtime"], logger: silentLogger)
}

@Suite("Server runtime")
struct ServerTests {
  @Test("calls without the internal token are UNAUTHENTICATED; health needs none")
  func internalToken() async throws {
    try await withRunningServer(try makeTestServer()) { port async throws in
      try await withTestClient(port: port, token: nil) { client async throws in
        let error = await capturedRPCError { try await sleep(client, milliseconds: 0) }
        #expect(error?.code == .unauthenticated)
        let health = try await Grpc_Health_V1_Health.Client(wrapping: client).check(.init())
        #expect(health.status == .serving)
        let named = try await Grpc_Health_V1_Health.Client(wrapping: client).check(.with { $0.service = "test.Runtime" })
        #expect(named.status == .serving)
        let unknown = await capturedRPCError { try await Grpc_Health_V1_Health.Client(wrapping: client).check(.with { $0.service = "nope" }) }
        #expect(unknown?.code == .notFound)
      }
      try await withTestClient(port: port, token: "wrong-token-0123456789") { client async throws in
        let error = await capturedRPCError { try await sleep(client, milliseconds: 0) }
        #expect(error?.code == .unauthenticated)
      }
      let answer = try await withTestClient(port: port) { client in try await sleep(client, milliseconds: 0) }
      #expect(answer.status == .serving)
    }
  }

  @Test("an error no rule names is INTERNAL with the request id, not UNKNOWN")
  func unexpectedError() async throws {
    try await withRunningServer(try makeTestServer()) { port async throws in
      try await withTestClient(port: port) { client async throws in
        let error = await capturedRPCError {
          try await client.unary(
            request: ClientRequest(message: Grpc_Health_V1_HealthCheckRequest.with { $0.service = "fail" }),
            descriptor: SleepService.method,
            serializer: ProtobufSerializer<Grpc_Health_V1_HealthCheckRequest>(),
            deserializer: ProtobufDeserializer<Grpc_Health_V1_HealthCheckResponse>(),
            options: .defaults
          ) { try $0.message }
        }
        #expect(error?.code == .internalError)
        #expect(error?.message == "internal error (request id test-request)")
      }
    }
  }

  @Test("a message over 4 MiB is RESOURCE_EXHAUSTED at any size, and the connection serves on")
  func messageLimit() async throws {
    try await withRunningServer(try makeTestServer()) { port async throws in
      try await withTestClient(port: port) { client async throws in
        for padding in [4 * 1024 * 1024 + 10, 20 * 1024 * 1024, 64 * 1024 * 1024] {
          let error = await capturedRPCError { try await sleep(client, milliseconds: 0, padding: padding) }
          #expect(error?.code == .resourceExhausted, "\(padding): \(String(describing: error))")
          #expect(error?.message.hasSuffix("exceeds the limit of 4194304 bytes") == true)
        }
        let fits = try await sleep(client, milliseconds: 0, padding: 3 * 1024 * 1024)
        #expect(fits.status == .serving)
      }
    }
  }

  @Test("graceful shutdown reports NOT_SERVING and lets an in-flight call finish")
  func drain() async throws {
    let started = AsyncStream.makeStream(of: Void.self)
    let server = try makeTestServer(started: { started.continuation.yield() })
    let group = ServiceGroup(services: [server], logger: silentLogger)
    try await withThrowingTaskGroup(of: Void.self) { tasks in
      tasks.addTask { try await group.run() }
      let port = try await server.address.wait().port
      try await withTestClient(port: port) { client async throws in
        let health = Grpc_Health_V1_Health.Client(wrapping: client)
        try await health.watch(.init()) { watch in
          var statuses = watch.messages.makeAsyncIterator()
          let first = try await statuses.next()
          #expect(first?.status == .serving)
          async let slow = sleep(client, milliseconds: 800)
          var iterator = started.stream.makeAsyncIterator()
          await iterator.next()
          await group.triggerGracefulShutdown()
          let draining = try await statuses.next()
          #expect(draining?.status == .notServing)
          let finished = try await slow
          #expect(finished.status == .serving)
        }
      }
      try await tasks.waitForAll()
    }
  }
}
