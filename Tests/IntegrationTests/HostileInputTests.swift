import Foundation
import PrivacyKit
import PrivacyTesting
import Testing

/// Input no gRPC library would send, sent with curl to the real executables: each case once took
/// a server down or got an answer gRPC does not specify.
@Suite("Hostile input")
struct HostileInputTests {
  static let healthCheck = "/grpc.health.v1.Health/Check"
  /// A method each service answers on its event loops (`SynchronousMethod`).
  static let synchronousMethod = [
    "consent-service": "/privacy.consent.v1.ConsentService/CheckConsent",
    "blocklist-service": "/privacy.blocklist.v1.BlocklistService/Check",
  ]

  @Test("a malformed grpc-timeout is INVALID_ARGUMENT, a well-formed one is honoured, and no server dies", arguments: [
    "consent-service", "vault-service", "subject-rights-service", "blocklist-service", "gateway",
  ])
  func malformedTimeout(_ name: String) async throws {
    let directory = try TestDirectory()
    defer { directory.remove() }
    let service = try RunningProcess(name, environment: serviceEnvironment(directory, name))
    let address = try await service.listeningAddress()
    let emptyMessage = RawCall.frames([])
    for timeout in ["-1S", "-99999999H", "1X", "S", "123456789S", "1.5S", "+1S", "1Sx", "1s"] {
      let answer = try await RawCall(path: Self.healthCheck, headers: ["grpc-timeout: \(timeout)"], body: nil)
        .send(to: address, in: directory)
      #expect(answer.status == 3, "grpc-timeout \(timeout): \(answer)")
      #expect(answer.message?.contains("grpc-timeout") == true)
    }
    for timeout in ["5S", "99999999n", "1H"] {
      let answer = try await RawCall(path: Self.healthCheck, headers: ["grpc-timeout: \(timeout)"], body: emptyMessage)
        .send(to: address, in: directory)
      #expect(answer.status == 0, "grpc-timeout \(timeout): \(answer)")
    }
    // A method answered on the event loop never reaches GRPCCore: it checks the timeout itself.
    if let path = Self.synchronousMethod[name] {
      let answer = try await RawCall(
        path: path, headers: ["grpc-timeout: -1S", "x-internal-token: \(testInternalToken)"], body: nil
      ).send(to: address, in: directory)
      #expect(answer.status == 3 && answer.message?.contains("grpc-timeout") == true, "\(path): \(answer)")
    }
    #expect(service.isRunning, "\(service.standardError.suffix(2000))")
    #expect(await HealthProbe.check(address, timeout: .seconds(10)) == .serving)
  }

  @Test("a unary call without a message or with two is UNIMPLEMENTED; bytes that are no message are INVALID_ARGUMENT")
  func framing() async throws {
    let directory = try TestDirectory()
    defer { directory.remove() }
    let service = try RunningProcess("consent-service", environment: serviceEnvironment(directory, "consent"))
    let address = try await service.listeningAddress()
    let path = "/privacy.consent.v1.ConsentService/CheckConsent"
    let credentials = ["x-internal-token: \(testInternalToken)", "x-privacy-actor: tester", "x-privacy-role: service"]
    let check: [UInt8] = [0x0a, 0x02, 0x63, 0x31, 0x12, 0x01, 0x6e]  // subject_id "c1", purpose_id "n"

    let none = try await RawCall(path: path, headers: credentials, body: []).send(to: address, in: directory)
    #expect(none.status == 12 && none.message == "CheckConsent takes exactly one request message, got none", "\(none)")
    let two = try await RawCall(path: path, headers: credentials, body: RawCall.frames(check, check)).send(to: address, in: directory)
    #expect(two.status == 12 && two.message == "CheckConsent takes exactly one request message, got more", "\(two)")
    let garbage = try await RawCall(path: path, headers: credentials, body: RawCall.frames([0xff, 0xff, 0xff]))
      .send(to: address, in: directory)
    #expect(
      garbage.status == 3 && garbage.message == "the request message is not a valid privacy.consent.v1.CheckConsentRequest",
      "\(garbage)")
    let one = try await RawCall(path: path, headers: credentials, body: RawCall.frames(check)).send(to: address, in: directory)
    #expect(one.status == 5, "\(one)")  // purpose n is not defined: the call itself went through
    #expect(service.isRunning)
  }

  @Test("metadata over 16 KiB is RESOURCE_EXHAUSTED naming the limit; the connection is not dropped")
  func oversizedMetadata() async throws {
    let directory = try TestDirectory()
    defer { directory.remove() }
    let service = try RunningProcess("vault-service", environment: serviceEnvironment(directory, "vault"))
    let address = try await service.listeningAddress()
    let big = try await RawCall(
      path: Self.healthCheck, headers: ["x-padding: " + String(repeating: "p", count: 20_000)], body: nil
    ).send(to: address, in: directory)
    #expect(big.status == 8 && big.message?.hasSuffix("exceeds the limit of 16384 bytes") == true, "\(big)")
    #expect(big.curlExit == 0)
    let many = try await RawCall(
      path: Self.healthCheck, headers: (0..<40).map { "x-field-\($0): " + String(repeating: "v", count: 500) }, body: nil
    ).send(to: address, in: directory)
    #expect(many.status == 8, "\(many)")
    #expect(service.isRunning)
  }

  @Test("an endless stream ends at its deadline with DEADLINE_EXCEEDED, sent by the server")
  func streamDeadline() async throws {
    let directory = try TestDirectory()
    defer { directory.remove() }
    let service = try RunningProcess("consent-service", environment: serviceEnvironment(directory, "consent"))
    let address = try await service.listeningAddress()
    let credentials = ["x-internal-token: \(testInternalToken)", "x-privacy-actor: tester", "x-privacy-role: service"]
    for path in ["/grpc.health.v1.Health/Watch", "/privacy.consent.v1.ConsentService/WatchConsentEvents"] {
      let start = ContinuousClock.now
      let answer = try await RawCall(path: path, headers: credentials + ["grpc-timeout: 500m"], body: RawCall.frames([]))
        .send(to: address, in: directory)
      #expect(answer.status == 4 && answer.message == "the deadline passed", "\(path): \(answer)")
      #expect(ContinuousClock.now - start < .seconds(5), "\(path)")
    }
  }

  @Test("a crashing service exits at once, killed by its signal, instead of symbolicating for seconds")
  func crashExitsAtOnce() async throws {
    let directory = try TestDirectory()
    defer { directory.remove() }
    let service = try RunningProcess("consent-service", environment: serviceEnvironment(directory, "consent"))
    _ = try await service.listeningAddress()
    service.signal(SIGSEGV)
    #expect(try await service.waitForExit(timeout: .seconds(3)) == 128 + SIGSEGV)
    #expect(service.standardError.contains("fatal signal"))
  }
}
