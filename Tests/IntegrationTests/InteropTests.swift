import Foundation
import PrivacyCertificates
import PrivacyKit
import PrivacyTesting
import Testing

/// The servers' transport against stock clients: the interop-server (gRPC's interop TestService on
/// the transport every service runs) driven by Python grpcio through gRPC's standard interop
/// cases, by grpcurl and by raw curl calls.
@Suite("Interop with stock clients")
struct InteropTests {
  static let client = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Interop/interop_client.py").path
  static let protocolDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Protocol").path
  static let cases = [
    "empty_unary", "large_unary", "client_streaming", "server_streaming", "ping_pong", "empty_stream", "status_code_and_message",
    "special_status_message", "custom_metadata", "unimplemented_method", "unimplemented_service", "timeout_on_sleeping_server",
    "cancel_after_begin", "cancel_after_first_response",
  ]

  private func startServer(_ directory: TestDirectory, extra: [String: String] = [:]) async throws -> (RunningProcess, ServiceAddress) {
    let server = try RunningProcess("interop-server", environment: [
      "GRPC_PORT": "0", "ALLOW_INSECURE_DEV": "1", "LOG_LEVEL": "error", "DATABASE_URL": "sqlite://\(directory.path("unused.sqlite"))",
    ].merging(extra) { _, new in new })
    return (server, try await server.listeningAddress())
  }

  /// Runs a command found on the PATH, off the cooperative pool.
  private func run(_ command: String, _ arguments: [String]) async throws -> CommandResult {
    try await Task.detached { try runCommand("/usr/bin/env", [command] + arguments) }.value
  }

  private func interopCases(_ arguments: [String]) async throws {
    let result = try await run("python3", [Self.client] + arguments)
    let output = String(decoding: result.output, as: UTF8.self)
    #expect(result.status == 0, "\(output)\(String(decoding: result.errors, as: UTF8.self))")
    let passed = output.split(separator: "\n").filter { $0.hasPrefix("PASS ") }.map { String($0.dropFirst(5)) }
    #expect(passed == Self.cases, "\(output)")
  }

  @Test("Python grpcio passes every standard interop case, in plaintext and over TLS, and the server keeps serving")
  func grpcioCases() async throws {
    let directory = try TestDirectory()
    defer { directory.remove() }
    let (server, address) = try await startServer(directory)
    try await interopCases([address.description])
    // Twice on one server: whatever the cancelled and timed-out calls left behind does not break the next run.
    try await interopCases([address.description])
    #expect(server.isRunning)

    let ca = try CertificateAuthority(directory: directory)
    let certificate = try ca.server()
    let (secure, secureAddress) = try await startServer(directory, extra: [
      "ALLOW_INSECURE_DEV": "", "TLS_CERT_FILE": certificate.certificateFile, "TLS_KEY_FILE": certificate.keyFile,
    ])
    try await interopCases([secureAddress.description, "--ca", ca.certificateFile])
    #expect(secure.isRunning)
  }

  @Test("grpcurl calls it from the .proto files; curl's raw HTTP/2 calls get gRPC's framing, trailers and refusals")
  func grpcurlAndCurl() async throws {
    let directory = try TestDirectory()
    defer { directory.remove() }
    let (server, address) = try await startServer(directory)
    let grpcurl = ["-plaintext", "-import-path", Self.protocolDirectory, "-proto", "grpc/testing/test.proto"]

    let unary = try await run("grpcurl", grpcurl + ["-d", #"{"response_size": 5}"#, address.description, "grpc.testing.TestService/UnaryCall"])
    #expect(unary.status == 0, "\(String(decoding: unary.errors, as: UTF8.self))")
    #expect(String(decoding: unary.output, as: UTF8.self).contains(#""body": "AAAAAAA=""#))
    let streamed = try await run("grpcurl", grpcurl + [
      "-d", #"{"response_parameters": [{"size": 1}, {"size": 2}, {"size": 3}]}"#, address.description,
      "grpc.testing.TestService/StreamingOutputCall",
    ])
    #expect(String(decoding: streamed.output, as: UTF8.self).components(separatedBy: #""body""#).count == 4)
    let refused = try await run("grpcurl", grpcurl + [
      "-d", #"{"response_status": {"code": 5, "message": "no such thing"}}"#, address.description, "grpc.testing.TestService/UnaryCall",
    ])
    let refusal = String(decoding: refused.output + refused.errors, as: UTF8.self)
    #expect(refused.status != 0 && refusal.contains("NotFound") && refusal.contains("no such thing"), "\(refusal)")
    // 20 responses of 4,000,000 bytes: over what one call may ask for, refused before any is made.
    let sizes = Array(repeating: #"{"size": 4000000}"#, count: 20).joined(separator: ", ")
    let greedy = try await run("grpcurl", grpcurl + [
      "-d", #"{"response_parameters": ["# + sizes + "]}", address.description, "grpc.testing.TestService/StreamingOutputCall",
    ])
    let greed = String(decoding: greedy.output + greedy.errors, as: UTF8.self)
    #expect(greedy.status != 0 && greed.contains("InvalidArgument") && greed.contains("at most 67108864 bytes"), "\(greed)")
    // Seven pauses of 10 s: over the minute one call may wait in all, refused before the first.
    let pauses = Array(repeating: #"{"size": 1, "interval_us": 10000000}"#, count: 7).joined(separator: ", ")
    let patient = try await run("grpcurl", grpcurl + [
      "-d", #"{"response_parameters": ["# + pauses + "]}", address.description, "grpc.testing.TestService/StreamingOutputCall",
    ])
    let patience = String(decoding: patient.output + patient.errors, as: UTF8.self)
    #expect(patient.status != 0 && patience.contains("InvalidArgument") && patience.contains("wait at most 60"), "\(patience)")

    // EmptyCall: one empty frame in, one empty frame out, status 0 in the trailers.
    let empty = try await RawCall(path: "/grpc.testing.TestService/EmptyCall", body: RawCall.frames([])).send(to: address, in: directory)
    #expect(empty.httpStatus == 200 && empty.status == 0 && empty.body == [0, 0, 0, 0, 0], "\(empty) \(empty.body)")
    // UnaryCall with response_size 3 (field 2, varint 3): one frame holding payload { body: 0 0 0 }
    // (field 1 { field 2: 3 bytes }).
    let sized = try await RawCall(path: "/grpc.testing.TestService/UnaryCall", body: RawCall.frames([0x10, 0x03]))
      .send(to: address, in: directory)
    #expect(sized.status == 0 && sized.body == [0, 0, 0, 0, 7, 0x0a, 0x05, 0x12, 0x03, 0, 0, 0], "\(sized) \(sized.body)")
    // An unknown method, a compressed message and a bad grpc-timeout are refused with gRPC statuses.
    let unknown = try await RawCall(path: "/grpc.testing.TestService/NoSuchCall", body: nil).send(to: address, in: directory)
    #expect(unknown.status == 12, "\(unknown)")
    let compressed = try await RawCall(
      path: "/grpc.testing.TestService/EmptyCall", headers: ["grpc-encoding: gzip"], body: [1, 0, 0, 0, 0]
    ).send(to: address, in: directory)
    #expect(compressed.status == 12, "\(compressed)")
    let badTimeout = try await RawCall(
      path: "/grpc.testing.TestService/EmptyCall", headers: ["grpc-timeout: soon"], body: nil
    ).send(to: address, in: directory)
    #expect(badTimeout.status == 3, "\(badTimeout)")
    #expect(server.isRunning)
  }
}
