import Foundation
import PrivacyTesting
import Testing

/// Interoperability over TLS: a stock gRPC client, Python's grpcio, calls the gateway of a suite
/// running with TLS and mutual TLS (`scripts/ensure-test-tools` installs grpcio).
@Suite("Stock clients over TLS")
struct StockClientTLSTests {
  /// Calls AdminService/WhoAmI with an API key over TLS, trusting `caFile` (or, with nil, the
  /// system's store); prints `OK <response hex>` or `ERROR <status>`.
  static let script = """
    import sys, grpc
    address, ca, key = sys.argv[1], sys.argv[2], sys.argv[3]
    credentials = grpc.ssl_channel_credentials(root_certificates=open(ca, 'rb').read() if ca != '-' else None)
    with grpc.secure_channel(address, credentials) as channel:
        call = channel.unary_unary('/privacy.gateway.v1.AdminService/WhoAmI')
        try:
            answer = call(b'', metadata=[('authorization', 'Bearer ' + key)], timeout=10)
            print('OK', answer.hex())
        except grpc.RpcError as error:
            print('ERROR', error.code().name)
    """

  /// Asks the gateway's reflection, with no credential, as grpcurl `list` and `describe` do: the
  /// services (v1alpha, through grpcio-reflection's descriptor database), the methods of the
  /// blocklist service as described, then the services again over v1 (the same messages on the
  /// wire). Prints one line each.
  static let reflectionScript = """
    import sys, grpc
    from google.protobuf import descriptor_pool
    from grpc_reflection.v1alpha import reflection_pb2
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
    address, ca = sys.argv[1], sys.argv[2]
    with grpc.secure_channel(address, grpc.ssl_channel_credentials(root_certificates=open(ca, 'rb').read())) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        print(' '.join(sorted(database.get_services())))
        blocklist = descriptor_pool.DescriptorPool(database).FindServiceByName('privacy.blocklist.v1.BlocklistService')
        print(' '.join(sorted(method.name for method in blocklist.methods)))
        v1 = channel.stream_stream('/grpc.reflection.v1.ServerReflection/ServerReflectionInfo',
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString)
        for answer in v1(iter([reflection_pb2.ServerReflectionRequest(list_services='')]), timeout=10):
            print(' '.join(sorted(service.name for service in answer.list_services_response.service)))
    """

  private func python(_ arguments: [String], script: String = Self.script) async throws -> String {
    try await run(["python3", "-c", script] + arguments)
  }

  /// Runs a command found on the PATH and returns its standard output, trimmed.
  private func run(_ command: [String]) async throws -> String {
    let process = try RunningProcess(
      executable: URL(fileURLWithPath: "/usr/bin/env"), arguments: command,
      environment: ProcessInfo.processInfo.environment)
    let status = try await process.waitForExit(timeout: .seconds(60))
    #expect(status == 0, "\(process.standardError)")
    return process.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
  }

  @Test("Python grpcio calls the gateway over TLS with an API key; a client that does not trust the CA is refused")
  func pythonGrpcio() async throws {
    try await RunningSuite.with { suite in
      let address = suite.gatewayAddress.description
      let answer = try await python([address, suite.caFile, RunningSuite.apiKey("dpo")])
      #expect(answer.hasPrefix("OK "), "\(answer)")
      #expect(answer.contains(Data("dpo@test".utf8).map { String(format: "%02x", $0) }.joined()), "\(answer)")
      #expect(try await python([address, "-", RunningSuite.apiKey("dpo")]) == "ERROR UNAVAILABLE")
      #expect(try await python([address, suite.caFile, "dpo-key.wrong"]) == "ERROR UNAUTHENTICATED")
    }
  }

  @Test("reflection on the gateway, over TLS and with no credential, lists and describes every service it serves, blocklist included")
  func reflection() async throws {
    try await RunningSuite.with { suite in
      let lines = try await python([suite.gatewayAddress.description, suite.caFile], script: Self.reflectionScript)
        .split(separator: "\n").map(String.init)
      let services = [
        "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection",
        "privacy.blocklist.v1.BlocklistService", "privacy.consent.v1.ConsentService", "privacy.gateway.v1.AdminService",
        "privacy.rights.v1.SubjectRightsService", "privacy.vault.v1.VaultService",
      ].joined(separator: " ")
      try #require(lines.count == 3, "\(lines)")
      #expect(lines[0] == services)
      #expect(lines[1].split(separator: " ").contains("Check"), "\(lines[1])")
      #expect(lines[2] == services)

      // grpcurl, as the README shows it: no proto files, the dev CA, no credential.
      let listed = try await run(["grpcurl", "-cacert", suite.caFile, suite.gatewayAddress.description, "list"])
      #expect(listed.split(separator: "\n").joined(separator: " ") == services)
      let described = try await run([
        "grpcurl", "-cacert", suite.caFile, suite.gatewayAddress.description, "describe", "privacy.blocklist.v1.BlocklistService",
      ])
      #expect(described.contains("rpc Check ( .privacy.blocklist.v1.CheckRequest ) returns ( .privacy.blocklist.v1.CheckResponse );"), "\(described)")
    }
  }
}
