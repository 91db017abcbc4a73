import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Synchronization
import Testing

extension LaunchedSuites {
  /// docker/compose.postgres.yaml as deployed, without Docker: two replicas of every backend and
  /// two gateways, each process with the environment the compose file gives it, on one database
  /// of the test cluster (over TLS, verified, the password from a file). A write load runs through
  /// both gateways while one replica of each backend and one gateway are killed (SIGKILL).
  @Suite("docker/compose.postgres.yaml: replicas killed under load", .enabled(if: PostgresTestDatabase.isAvailable))
  struct ReplicaProcessTests {
    static let backends = ["consent", "vault", "rights", "blocklist"]

    /// The API keys of the test: a DPO (writes and checks) and an auditor (the audit chain).
    static let keys = ["dpo", "auditor"]
    static func apiKey(_ role: String) -> String { "\(role)-key.secret-\(role)" }

    /// Everything one acknowledged write left, to be found afterwards.
    struct Acknowledged: Sendable {
      var decisions: [(subject: String, sequence: UInt64)] = []
      var records: [(subject: String, email: String)] = []
      var requests: [String] = []
      var blocked: [String] = []
      var failures = 0
      /// The first failure of each kind of write, for the failure message.
      var firstFailure: [Int: String] = [:]
    }

    /// The acknowledged writes of the load's workers.
    final class Writes: Sendable {
      private let state = Mutex(Acknowledged())
      func update(_ change: (inout Acknowledged) -> Void) { state.withLock { change(&$0) } }
      var acknowledged: Acknowledged { state.withLock { $0 } }
    }

    @Test("every acknowledged write survives the kills, every chain verifies, and both consent replicas answer every decision")
    func killedUnderLoad() async throws {
      let directory = try TestDirectory()
      defer { directory.remove() }
      let secrets = directory.path("secrets")
      let make = try RunningProcess(executable: ComposeTests.docker.appendingPathComponent("make-secrets"), arguments: [secrets], environment: [:])
      #expect(try await make.waitForExit(timeout: .seconds(60)) == 0, "\(make.standardError)")
      var keys = "keys:\n"
      for role in Self.keys { keys += "  - {id: \(role)-key, role: \(role), actor: \(role)@test, sha256: \(SecureToken.hash("secret-\(role)"))}\n" }
      try keys.write(toFile: secrets + "/gateway-api-keys.yaml", atomically: true, encoding: .utf8)

      try await PostgresTestDatabase.with { database in
        // The compose file's PostgreSQL, as the test cluster: its password in the secret file,
        // its CA for verify-full.
        var url = try #require(URLComponents(string: database.url))
        try #require(url.password).write(toFile: secrets + "/postgres-password", atomically: true, encoding: .utf8)
        url.password = nil
        url.query = "sslmode=verify-full&sslrootcert=\(try #require(PostgresTestDatabase.testCA))"
        let databaseURL = try #require(url.string)

        let compose = try ComposeTests.Compose(file: "compose.postgres.yaml", secretsDirectory: secrets)
        var processes: [String: [RunningProcess]] = [:]
        defer { for process in processes.values.joined() { process.signal(SIGKILL) } }
        var gatewayEnvironment = ["DATABASE_URL": databaseURL]
        for backend in Self.backends {
          var addresses: [String] = []
          for _ in 0..<2 {
            let process = try compose.process(backend, directory: directory, extra: ["DATABASE_URL": databaseURL])
            processes[backend, default: []].append(process)
            addresses.append(try await process.listeningAddress().description)
          }
          gatewayEnvironment[backend.uppercased() + "_SERVICE_ADDR"] = addresses.joined(separator: ",")
          gatewayEnvironment[backend.uppercased() + "_SERVICE_TLS_NAME"] = backend
        }
        var gatewayPorts: [Int] = []
        for _ in 0..<2 {
          let gateway = try compose.process("gateway", directory: directory, extra: gatewayEnvironment)
          processes["gateway", default: []].append(gateway)
          gatewayPorts.append(try await gateway.listeningAddress().port)
        }

        try await withGateways(gatewayPorts, caFile: secrets + "/ca.pem", role: "dpo") { gateways in
          let consent = gateways.map { Privacy_Consent_V1_ConsentService.Client(wrapping: $0) }
          let vault = gateways.map { Privacy_Vault_V1_VaultService.Client(wrapping: $0) }
          _ = try await consent[0].upsertPurpose(.with {
            $0.purpose = .with {
              $0.purposeID = "newsletter"
              $0.title = "Newsletter"
              $0.description_p = "Our monthly newsletter"
              $0.legalBasis = .consent
              $0.category = .emailMarketing
              $0.retentionDays = 365
              $0.noticeVersion = "v1"
              $0.noticeText = "We send you our newsletter."
            }
          })
          _ = try await vault[1].upsertField(.with {
            $0.name = "email"
            $0.classification = .personal
            $0.searchable = true
          })

          let acknowledged = Writes()
          let killed = try (Self.backends + ["gateway"]).map { try #require(processes[$0]?.first) }
          let kills = Task {
            try await Task.sleep(for: .seconds(3))
            for process in killed { process.signal(SIGKILL) }
          }
          try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<4 {
              group.addTask {
                for index in 0..<60 {
                  let through = gateways[(worker + index) % 2]
                  await Self.write(kind: index % 4, id: "w\(worker)-\(index)", through: through, into: acknowledged)
                  try await Task.sleep(for: .milliseconds(50))
                }
              }
            }
            try await group.waitForAll()
          }
          try await kills.value
          for process in killed { #expect(try await process.waitForExit() == 128 + SIGKILL) }

          // Everything acknowledged is there, read through the gateway left; each decision from
          // both consent replicas (round robin: consecutive checks go to each in turn).
          let acked = acknowledged.acknowledged
          let counts = [acked.decisions.count, acked.records.count, acked.requests.count, acked.blocked.count]
          #expect(counts.allSatisfy { $0 > 10 }, "acknowledged per kind: \(counts), failed: \(acked.failures), first failures: \(acked.firstFailure)")
          #expect(acked.failures > 0, "the kills interrupted no call: they came too late to test anything")
          let survivor = gateways[1]
          let consentClient = Privacy_Consent_V1_ConsentService.Client(wrapping: survivor)
          for (subject, sequence) in acked.decisions {
            for _ in 0..<2 {
              let answer = try await consentClient.checkConsent(.with {
                $0.subjectID = subject
                $0.purposeID = "newsletter"
              })
              #expect(answer.allowed && answer.eventSequence == sequence, "\(subject)")
            }
          }
          let vaultClient = Privacy_Vault_V1_VaultService.Client(wrapping: survivor)
          for (subject, email) in acked.records {
            let record = try await vaultClient.getRecord(.with { $0.subjectID = subject }).record
            #expect(record.fields.first { $0.name == "email" }?.value == email, "\(subject)")
          }
          let rights = Privacy_Rights_V1_SubjectRightsService.Client(wrapping: survivor)
          for id in acked.requests { #expect(try await rights.getRequest(.with { $0.requestID = id }).request.requestID == id) }
          let blocklist = Privacy_Blocklist_V1_BlocklistService.Client(wrapping: survivor)
          let matches = try await blocklist.check(.with { $0.identifiers = acked.blocked.map(Self.identifier) }).matches
          #expect(matches.count == acked.blocked.count && matches.allSatisfy(\.matched))
          let ledger = try await consentClient.verifyLedger(.init()).verification
          #expect(ledger.valid && ledger.entriesChecked >= UInt64(acked.decisions.count), "\(ledger)")
          let accessLog = try await vaultClient.verifyAccessLog(.init()).verification
          #expect(accessLog.valid && accessLog.entriesChecked >= UInt64(acked.records.count), "\(accessLog)")
        }
        try await withGateways([gatewayPorts[1]], caFile: secrets + "/ca.pem", role: "auditor") { gateways in
          let audit = try await Privacy_Gateway_V1_AdminService.Client(wrapping: gateways[0]).verifyAudit(.init()).verification
          #expect(audit.valid, "\(audit)")
        }
      }
    }

    static func identifier(_ value: String) -> Privacy_Blocklist_V1_Identifier {
      .with {
        $0.kind = .email
        $0.value = value
      }
    }

    /// One write of `kind` through `gateway`, with a deadline; what it acknowledged goes into
    /// `acknowledged`, a failure (the kills) is counted.
    static func write(kind: Int, id: String, through gateway: GRPCClient<HTTP2ClientTransport.Posix>, into acknowledged: Writes) async {
      var options = CallOptions.defaults
      options.timeout = .seconds(5)
      do {
        switch kind {
        case 0:
          let event = try await Privacy_Consent_V1_ConsentService.Client(wrapping: gateway).recordConsent(
            .with {
              $0.subjectID = "c-\(id)"
              $0.purposeID = "newsletter"
              $0.decision = .granted
              $0.evidence = .with {
                $0.channel = .webform
                $0.formName = "signup"
                $0.actor = "web visitor"
                $0.actorKind = .subject
              }
            }, options: options
          ).event
          acknowledged.update { $0.decisions.append((event.subjectID, event.sequence)) }
        case 1:
          let email = "\(id)@example.com"
          _ = try await Privacy_Vault_V1_VaultService.Client(wrapping: gateway).putRecord(
            .with {
              $0.subjectID = "v-\(id)"
              $0.values = ["email": email]
              $0.source = .with {
                $0.channel = .webform
                $0.formName = "signup"
                $0.actorKind = .subject
              }
            }, options: options)
          acknowledged.update { $0.records.append(("v-\(id)", email)) }
        case 2:
          let request = try await Privacy_Rights_V1_SubjectRightsService.Client(wrapping: gateway).openRequest(
            .with {
              $0.subjectID = "r-\(id)"
              $0.right = .access
              $0.requesterEmail = "\(id)@example.com"
              $0.channel = .email
              $0.idempotencyKey = "ticket-\(id)"
            }, options: options
          ).request
          acknowledged.update { $0.requests.append(request.requestID) }
        default:
          let value = "blocked-\(id)@example.com"
          _ = try await Privacy_Blocklist_V1_BlocklistService.Client(wrapping: gateway).add(
            .with {
              $0.identifiers = [identifier(value)]
              $0.reason = "erased on request"
            }, options: options)
          acknowledged.update { $0.blocked.append(value) }
        }
      } catch {
        acknowledged.update {
          $0.failures += 1
          if $0.firstFailure[kind] == nil { $0.firstFailure[kind] = "\(error)" }
        }
      }
    }

    /// Clients to each gateway port over TLS (the compose CA), as `role`.
    func withGateways<T: Sendable>(
      _ ports: [Int], caFile: String, role: String, _ body: ([GRPCClient<HTTP2ClientTransport.Posix>]) async throws -> T
    ) async throws -> T {
      func open(_ remaining: ArraySlice<Int>, _ clients: [GRPCClient<HTTP2ClientTransport.Posix>]) async throws -> T {
        guard let port = remaining.first else { return try await body(clients) }
        return try await withGatewayClient(
          port: port, authorization: "Bearer \(Self.apiKey(role))",
          security: .tls { $0.trustRoots = .certificates([.file(path: caFile, format: .pem)]) }
        ) { client in try await open(remaining.dropFirst(), clients + [client]) }
      }
      return try await open(ports[...], [])
    }
  }
}
