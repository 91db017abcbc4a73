import Foundation
import GRPCCore
import PrivacyCertificates
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Testing

@Suite("Executables")
struct ExecutableTests {
  @Test("a service prints `listening on HOST:PORT` first, serves, and exits 0 on SIGTERM")
  func lifecycle() async throws {
    let directory = try TestDirectory()
    defer { directory.remove() }
    let service = try RunningProcess("consent-service", environment: serviceEnvironment(directory, "consent"))
    let address = try await service.listeningAddress()
    #expect(address.host == "127.0.0.1" && address.port > 0)
    #expect(await HealthProbe.check(address, timeout: .seconds(10)) == .serving)
    try await withTestClient(port: address.port) { client async throws in
      let consent = Privacy_Consent_V1_ConsentService.Client(wrapping: client)
      let answer = try await consent.checkEmailEligibility(.with {
        $0.subjectID = "c1"
        $0.messageKind = .reply
      })
      #expect(answer.allowed)
    }
    service.signal(SIGTERM)
    #expect(try await service.waitForExit() == 0)
  }

  @Test("every executable starts and answers health", arguments: [
    "consent-service", "vault-service", "subject-rights-service", "blocklist-service", "gateway",
  ])
  func allServe(_ name: String) async throws {
    let directory = try TestDirectory()
    defer { directory.remove() }
    let service = try RunningProcess(name, environment: serviceEnvironment(directory, name))
    let address = try await service.listeningAddress()
    #expect(await HealthProbe.check(address, timeout: .seconds(10)) == .serving)
    service.signal(SIGTERM)
    #expect(try await service.waitForExit() == 0)
  }

  @Test("a bad configuration stops start-up with a message naming the variable", arguments: [
    // Plaintext without ALLOW_INSECURE_DEV=1: no backend starts without mutual TLS.
    (["ALLOW_INSECURE_DEV": ""], "TLS_CERT_FILE"),
    (["INTERNAL_TOKEN": "short"], "INTERNAL_TOKEN"),
    (["GRPC_PORT": "port"], "GRPC_PORT"),
    (["DATABASE_URL": "ftp://x"], "DATABASE_URL"),
  ])
  func badConfiguration(_ overrides: [String: String], _ variable: String) async throws {
    let directory = try TestDirectory()
    defer { directory.remove() }
    var environment = serviceEnvironment(directory, "consent")
    for (key, value) in overrides {
      if value.isEmpty { environment.removeValue(forKey: key) } else { environment[key] = value }
    }
    let service = try RunningProcess("consent-service", environment: environment)
    #expect(try await service.waitForExit() == 1)
    #expect(service.standardError.contains(variable))
    #expect(await service.nextLine(timeout: .milliseconds(100)) == nil)
  }

  @Test("a gateway without its shipped policy beside it stops start-up naming GATEWAY_POLICY_FILE, not with a crash")
  func gatewayWithoutPolicyBundle() async throws {
    let directory = try TestDirectory()
    defer { directory.remove() }
    // A hard link, not a copy: a copy's write descriptor can leak into a process another test
    // spawns at that moment, and the kernel then refuses to execute the file ("text file busy").
    let copy = directory.url.appendingPathComponent("gateway")
    try FileManager.default.linkItem(at: binDirectory.appendingPathComponent("gateway"), to: copy)
    let gateway = try RunningProcess(executable: copy, environment: serviceEnvironment(directory, "gateway"))
    #expect(try await gateway.waitForExit() == 1)
    #expect(gateway.standardError.contains("GATEWAY_POLICY_FILE"), "\(gateway.standardError)")
  }

  @Test("an acknowledged write survives kill -9")
  func durability() async throws {
    let directory = try TestDirectory()
    defer { directory.remove() }
    let environment = serviceEnvironment(directory, "consent")
    let first = try RunningProcess("consent-service", environment: environment)
    let address = try await first.listeningAddress()
    try await withTestClient(port: address.port) { client async throws in
      let consent = Privacy_Consent_V1_ConsentService.Client(wrapping: client)
      _ = try await consent.upsertPurpose(.with {
        $0.purpose = .with {
          $0.purposeID = "newsletter"
          $0.title = "Newsletter"
          $0.legalBasis = .consent
          $0.category = .emailMarketing
          $0.noticeVersion = "v1"
          $0.noticeText = "We send news."
        }
      })
      for index in 0..<50 {
        _ = try await consent.recordConsent(.with {
          $0.subjectID = "c\(index)"
          $0.purposeID = "newsletter"
          $0.decision = .granted
          $0.evidence = .with { $0.channel = .webform }
        })
      }
    }
    first.signal(SIGKILL)
    _ = try await first.waitForExit()

    let second = try RunningProcess("consent-service", environment: environment)
    let restarted = try await second.listeningAddress()
    try await withTestClient(port: restarted.port) { client async throws in
      let consent = Privacy_Consent_V1_ConsentService.Client(wrapping: client)
      let verification = try await consent.verifyLedger(.init()).verification
      #expect(verification.valid && verification.entriesChecked == 50)
      let answer = try await consent.checkConsent(.with {
        $0.subjectID = "c49"
        $0.purposeID = "newsletter"
      })
      #expect(answer.allowed)
    }
    second.signal(SIGTERM)
    _ = try await second.waitForExit()
  }

  @Test("with METRICS_PORT set, /metrics counts calls per method and status, over TLS with the service's client CA and allowed identities")
  func metrics() async throws {
    let directory = try TestDirectory()
    defer { directory.remove() }
    let ca = try CertificateAuthority(directory: directory)
    let server = try ca.server()
    let allowed = try ca.client("spiffe://privacy.local/gateway")
    let other = try ca.client("spiffe://privacy.local/crm", file: "crm")
    let metricsPort = Int.random(in: 20_000...29_999)
    let service = try RunningProcess("consent-service", environment: serviceEnvironment(directory, "consent", extra: [
      "METRICS_PORT": String(metricsPort), "TLS_CERT_FILE": server.certificateFile, "TLS_KEY_FILE": server.keyFile,
      "TLS_CLIENT_CA_FILE": ca.certificateFile, "TLS_ALLOWED_CLIENTS": "spiffe://privacy.local/gateway",
    ]))
    let address = try await service.listeningAddress()
    let caFile = ca.certificateFile
    try await withTestClient(port: address.port, security: ca.transportSecurity(presenting: allowed)) {
      client async throws in
      let consent = Privacy_Consent_V1_ConsentService.Client(wrapping: client)
      _ = try? await consent.checkConsent(.with {
        $0.subjectID = "c1"
        $0.purposeID = "nope"
      })
    }
    func curl(_ arguments: String...) async throws -> (Int32, String) {
      let process = try RunningProcess(
        executable: URL(fileURLWithPath: "/usr/bin/curl"), arguments: ["-sS", "--max-time", "10"] + arguments, environment: [:])
      return (try await process.waitForExit(timeout: .seconds(30)), process.standardOutput)
    }
    let url = "https://127.0.0.1:\(metricsPort)/metrics"
    let (status, text) = try await curl("--cacert", caFile, "--cert", allowed.certificateFile, "--key", allowed.keyFile, url)
    #expect(status == 0)
    #expect(text.contains(#"grpc_server_handled_total{grpc_method="privacy.consent.v1.ConsentService/CheckConsent",grpc_code="NOT_FOUND"}"#))
    #expect(text.contains("grpc_server_handling_seconds_bucket"))
    // No plaintext answer on the metrics port of a service that has a certificate.
    let (plainStatus, plainText) = try await curl("http://127.0.0.1:\(metricsPort)/metrics")
    #expect(plainStatus != 0 && !plainText.contains("grpc_server_handled_total"))
    // Neither a client without a certificate nor one whose identity is not allowed.
    for refused in [try await curl("--cacert", caFile, url), try await curl("--cacert", caFile, "--cert", other.certificateFile, "--key", other.keyFile, url)] {
      #expect(refused.0 != 0 && !refused.1.contains("grpc_server_handled_total"), "\(refused)")
    }
    service.signal(SIGTERM)
    _ = try await service.waitForExit()
  }
}
