import Foundation
import GRPCCore
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Testing

/// Personal data never appears in logs: the five executables at LOG_LEVEL=trace through a
/// contact's whole life (creation from a webform, reads, a reveal, double opt-in, a blocklist
/// check, a request verified by token, erasure, a refused re-entry) and the errors along the way;
/// then every line any of them wrote is searched for the person's values.
extension ProcessWorkflowTests {
  @Suite("Logs hold no personal data")
  struct LogPrivacyTests {
    /// The values written for the contact, and forms a log might show them in.
    static let personalValues = SuiteProcesses.contactValues.filter { $0.key != "segment" }.map(\.value) + [
      "+49301234567", "ada@EXAMPLE.org", "203.0.113.7", "Ada King",
    ]

    /// The secrets the processes run with: the internal token, the vault master key, the pepper.
    static let secrets = [testInternalToken, testVaultMasterKey, testBlocklistPepper]

    @Test("at LOG_LEVEL=trace, no process writes a personal value or a secret, in success or failure")
    func noPersonalDataInLogs() async throws {
      let suite = try await SuiteProcesses(environment: ["LOG_LEVEL": "trace"])
      let (gateway, port) = try await suite.gateway()
      let subject = try await suite.seed(gatewayPort: port)
      try await suite.asDPO(port: port) { client async throws in
        try await Self.exercise(subject: subject, suite: suite, port: port, client: client)
      }
      gateway.signal(SIGTERM)
      _ = try await gateway.waitForExit()
      let processes = [("gateway", gateway)] + suite.backends.map { ($0.key, $0.value) }
      await suite.stop()

      for (name, process) in processes {
        let output = process.standardOutput + process.standardError
        let loggedCalls = output.contains("call finished")
        #expect(loggedCalls, "\(name) logged no calls at trace level")
        let leaked = (Self.personalValues + Self.secrets).filter { output.contains($0) }
        #expect(leaked.isEmpty, "\(name) logged \(leaked)")
      }
    }

    /// Successful and failing calls that carry the person's values.
    private static func exercise(
      subject: String, suite: SuiteProcesses, port: Int, client: GRPCClient<some ClientTransport>
    ) async throws {
      let admin = Privacy_Gateway_V1_AdminService.Client(wrapping: client)
      let vault = Privacy_Vault_V1_VaultService.Client(wrapping: client)
      let consent = Privacy_Consent_V1_ConsentService.Client(wrapping: client)
      let rights = Privacy_Rights_V1_SubjectRightsService.Client(wrapping: client)
      let blocklist = Privacy_Blocklist_V1_BlocklistService.Client(wrapping: client)

      _ = try await vault.getRecord(.with { $0.subjectID = subject })
      _ = try await vault.revealField(.with {
        $0.subjectID = subject
        $0.field = "iban"
        $0.reason = "refund of invoice 42"
      })
      _ = try await vault.putRecord(.with {
        $0.subjectID = subject
        $0.values = ["name": "Ada King"]
        $0.source = .with {
          $0.channel = .webform
          $0.ipAddress = "203.0.113.7"
        }
      })
      let unknownField = await capturedRPCError {
        try await vault.putRecord(.with {
          $0.subjectID = subject
          $0.values = ["nickname": "Ada Lovelace"]
          $0.source = .with { $0.channel = .manual }
        })
      }
      #expect(unknownField != nil)
      _ = try await consent.startDoubleOptIn(.with {
        $0.subjectID = subject
        $0.emailAddress = "ada@EXAMPLE.org"
      })
      _ = try await blocklist.check(.with {
        $0.identifiers = [.with {
          $0.kind = .email
          $0.value = "ada@example.org"
        }]
      })
      let malformed = await capturedRPCError {
        try await blocklist.check(.with {
          $0.identifiers = [.with {
            $0.kind = .phone
            $0.value = "Ada Lovelace"
          }]
        })
      }
      #expect(malformed?.code == .invalidArgument)

      // An erasure request verified by its emailed token (a wrong one first), then executed.
      let requestID = try await rights.openRequest(.with {
        $0.subjectID = subject
        $0.right = .erasure
        $0.requesterEmail = "ada@example.org"
        $0.channel = .email
      }).request.requestID
      _ = try await rights.startVerification(.with { $0.requestID = requestID })
      let wrongToken = await capturedRPCError {
        try await rights.confirmVerification(.with {
          $0.requestID = requestID
          $0.token = "not-the-token"
        })
      }
      #expect(wrongToken != nil)
      _ = try await rights.verifyManually(.with {
        $0.requestID = requestID
        $0.note = "identity checked by phone call-back"
      })
      let erased = try await admin.executeRequest(.with { $0.requestID = requestID })
      #expect(erased.status == .completed)

      // The same person entered again: refused as previously erased.
      let reentry = await capturedRPCError {
        try await admin.createContact(.with {
          $0.values = SuiteProcesses.contactValues
          $0.source = .with { $0.evidence = .with { $0.channel = .import } }
        })
      }
      #expect(reentry?.code == .failedPrecondition)
    }
  }
}
