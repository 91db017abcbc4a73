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

  private func python(_ arguments: [String]) async throws -> String {
    let process = try RunningProcess(
      executable: URL(fileURLWithPath: "/usr/bin/env"), arguments: ["python3", "-c", Self.script] + arguments,
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
}
