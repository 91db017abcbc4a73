import Foundation
import GRDB
import GRPCCore
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Testing

/// `privacy-suite seed` fills a data directory that the real services then open and serve.
@Suite("privacy-suite seed")
struct SeedTests {
  private static let subjects = 120

  /// The seeder's rules (Seeder.expectedDecision), restated here so the test checks them.
  private static func decision(_ index: Int, _ purpose: String) -> Privacy_Consent_V1_Decision {
    switch purpose {
    case "newsletter": index % 3 == 0 ? .denied : index % 7 == 0 ? .withdrawn : .granted
    case "analytics": index % 2 == 0 ? .granted : .denied
    case "partners": index % 10 == 0 ? .granted : .denied
    default: .granted
    }
  }

  @Test("seeds N subjects that the consent, vault, rights and blocklist services serve, with valid chains; refuses a used directory")
  func seedAndServe() async throws {
    let directory = try TestDirectory()
    defer { directory.remove() }
    let data = directory.path("data")
    let seed = try RunningProcess("privacy-suite", arguments: ["seed", "--subjects", "\(Self.subjects)", "--data-dir", data], environment: [:])
    #expect(await seed.nextLine(timeout: .seconds(120)) == "seeded \(Self.subjects) subjects in \(data)")
    #expect(try await seed.waitForExit(timeout: .seconds(120)) == 0)
    let again = try RunningProcess("privacy-suite", arguments: ["seed", "--subjects", "5", "--data-dir", data], environment: [:])
    #expect(try await again.waitForExit() == 2)

    let vaultProcess = try RunningProcess("vault-service", environment: testEnvironment(
      database: "\(data)/vault-service.sqlite", extra: ["VAULT_MASTER_KEY_FILE": "\(data)/dev-vault-master-key"]))
    let consentProcess = try RunningProcess("consent-service", environment: testEnvironment(database: "\(data)/consent-service.sqlite"))
    defer {
      vaultProcess.signal(SIGTERM)
      consentProcess.signal(SIGTERM)
    }

    try await withTestClient(port: try await vaultProcess.listeningAddress().port) { client in
      let vault = Privacy_Vault_V1_VaultService.Client(wrapping: client)
      for index in [0, 6, 7, Self.subjects - 1] {
        let record = try await vault.getRecord(.with { $0.subjectID = "seed-\(index)" }).record
        let expected = 7 + (index % 2 == 0 ? 1 : 0) + (index % 3 == 0 ? 1 : 0)
        #expect(record.fields.count == expected, "seed-\(index)")
        #expect(record.fields.first { $0.name == "zip" }?.value == "\(10000 + index % 900)")
        #expect(record.fields.first { $0.name == "email" }?.value == "person.\(index)@example.com")
      }
      let found = try await vault.findByField(.with {
        $0.field = "email"
        $0.value = "person.7@example.com"
      })
      #expect(found.records.map(\.subjectID) == ["seed-7"])
      let log = try await vault.verifyAccessLog(.init()).verification
      #expect(log.valid && log.entriesChecked > UInt64(7 * Self.subjects))
      // The k-anonymity counts were kept: seed-5 alone holds zip 10005.
      let erased = try await vault.erasePersonalData(.with {
        $0.subjectID = "seed-5"
        $0.reason = "seed test"
      })
      #expect(erased.kAnonymity.k == 1)
    }

    try await withTestClient(port: try await consentProcess.listeningAddress().port) { client in
      let consent = Privacy_Consent_V1_ConsentService.Client(wrapping: client)
      for index in 0..<Self.subjects {
        for purpose in ["newsletter", "analytics", "partners", "crm"] {
          let answer = try await consent.checkConsent(.with {
            $0.subjectID = "seed-\(index)"
            $0.purposeID = purpose
          })
          #expect(answer.decision == Self.decision(index, purpose), "seed-\(index) \(purpose)")
        }
      }
      let ledger = try await consent.verifyLedger(.init()).verification
      #expect(ledger.valid && ledger.entriesChecked >= UInt64(4 * Self.subjects))
      // The gateway's consent reactor starts after the seeded history.
      let gateway = try DatabaseQueue(path: "\(data)/gateway.sqlite")
      let cursor = try await gateway.read { db in
        try Int64.fetchOne(db, sql: "SELECT position FROM reactor_cursors WHERE name = 'consent-consequences'")
      }
      #expect(cursor.map(UInt64.init) == ledger.entriesChecked)
    }

    // Rights: seed-0 asked for erasure (verified), seed-100 for access.
    let rightsProcess = try RunningProcess("subject-rights-service", environment: testEnvironment(database: "\(data)/subject-rights-service.sqlite"))
    let blocklistProcess = try RunningProcess("blocklist-service", environment: testEnvironment(
      database: "\(data)/blocklist-service.sqlite", extra: ["BLOCKLIST_PEPPER_FILE": "\(data)/dev-blocklist-pepper"]))
    defer {
      rightsProcess.signal(SIGTERM)
      blocklistProcess.signal(SIGTERM)
    }
    try await withTestClient(port: try await rightsProcess.listeningAddress().port) { client in
      let requests = try await Privacy_Rights_V1_SubjectRightsService.Client(wrapping: client).listRequests(.init()).requests
      let bySubject = Dictionary(uniqueKeysWithValues: requests.map { ($0.subjectID, ($0.right, $0.status)) })
      #expect(bySubject.count == 2)
      #expect(bySubject["seed-0"]?.0 == .erasure && bySubject["seed-0"]?.1 == .verified, "\(requests)")
      #expect(bySubject["seed-100"]?.0 == .access && bySubject["seed-100"]?.1 == .received, "\(requests)")
      // Every subject engaged; one in 100 (seed-50 here) not for 1,000 days, due under the seeded policy.
      let rights = Privacy_Rights_V1_SubjectRightsService.Client(wrapping: client)
      let due = try await rights.listDueForRetention(.with { $0.pageSize = 1000 }).due
      #expect(due.map(\.subjectID) == ["seed-50"] && due.first?.policyName == "inactive-two-years", "\(due)")
      let engaged = try await rights.listEngagements(.with {
        $0.engagedUntil = .init(date: Date())
        $0.pageSize = 1000
      }).engagements
      #expect(engaged.count == Self.subjects)
    }
    // Blocklist: one erased person per 100 subjects, found under the data directory's pepper.
    try await withTestClient(port: try await blocklistProcess.listeningAddress().port) { client in
      let answer = try await Privacy_Blocklist_V1_BlocklistService.Client(wrapping: client).check(.with {
        $0.identifiers = (0..<3).map { index in .with { $0.kind = .email; $0.value = "erased.\(index)@example.com" } }
      })
      #expect(answer.matches.map(\.matched) == [true, true, false])
    }
  }
}
