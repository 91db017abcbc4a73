import Foundation
import GRPCCore
import PrivacyGateway
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Testing

@Suite("Consent reactor: storage decisions have their consequences in the vault whichever path records them")
struct ConsentReactorTests {
  /// Whether the subject's `iban` (covered by the `storage` purpose) is locked and empty.
  static func ibanLocked(_ vault: VaultClient, _ subject: String) async throws -> Bool {
    let iban = try await vault.getRecord(.with { $0.subjectID = subject }).record.field("iban")
    return iban?.locked == true && iban?.value == ""
  }

  /// Whether `iban` is unlocked (an erased value leaves no field behind once unlocked).
  static func ibanUnlocked(_ vault: VaultClient, _ subject: String) async throws -> Bool {
    try await vault.getRecord(.with { $0.subjectID = subject }).record.field("iban")?.locked != true
  }

  /// Asks for a preference change straight at the consent service, as the page's confirmation
  /// does, and confirms it with the token from the outbox: a path that never touches the gateway.
  static func confirmedChange(_ change: Privacy_Consent_V1_PreferenceChange, subject: String, consentPort: Int) async throws {
    try await withTestClient(port: consentPort) { direct async throws in
      let consent = ConsentClient(wrapping: direct)
      _ = try await consent.requestPreferenceChange(.with {
        $0.subjectID = subject
        $0.emailAddress = "prefs@example.org"
        $0.changes = [change]
      })
      let message = try #require(try await consent.listOutbox(.with { $0.pageSize = 1000 }).messages.last)
      let token = try #require(URLComponents(string: message.link)?.queryItems?.first { $0.name == "token" }?.value)
      _ = try await consent.confirmPreferenceChange(.with { $0.token = token })
    }
  }

  static func createContacts(_ admin: AdminClient, _ subjects: [String]) async throws {
    for subject in subjects {
      var contact = WorkflowData.webformContact()
      contact.subjectID = subject
      _ = try await admin.createContact(contact)
    }
  }

  @Test("RecordConsent, BulkUpdate, a confirmed preference change and a write straight to the consent service all erase and lock; a grant unlocks")
  func everyPath() async throws {
    let fixture = try GatewayFixture()
    try await fixture.run { port, backends async throws in
      try await WorkflowData.seed(backends)
      try await asRole("dpo", port: port) { client async throws in
        let admin = AdminClient(wrapping: client)
        let consent = ConsentClient(wrapping: client)
        let vault = VaultClient(wrapping: client)
        let subjects = ["by-record", "by-bulk", "by-preferences", "by-import", "by-denial"]
        try await Self.createContacts(admin, subjects)
        for subject in subjects { #expect(try await vault.getRecord(.with { $0.subjectID = subject }).record.field("iban")?.value.isEmpty == false) }

        _ = try await consent.recordConsent(.with {
          $0.subjectID = "by-record"
          $0.purposeID = "storage"
          $0.decision = .withdrawn
          $0.evidence = .with { $0.channel = .api }
        })
        _ = try await consent.bulkUpdate(.with {
          $0.selector = .subjectIds(.with { $0.subjectIds = ["by-bulk"] })
          $0.purposeID = "storage"
          $0.decision = .withdrawn
          $0.evidence = .with { $0.channel = .manual }
          $0.reason = "letters of withdrawal"
        })
        _ = try await consent.recordConsent(.with {
          $0.subjectID = "by-denial"
          $0.purposeID = "storage"
          $0.decision = .denied
          $0.evidence = .with { $0.channel = .api }
        })
        // Paths that never touch the gateway: a confirmed preference change and an import.
        try await Self.confirmedChange(
          .with { $0.consent = .with { $0.purposeID = "storage"; $0.decision = .withdrawn } }, subject: "by-preferences",
          consentPort: backends[.consent]!)
        try await withTestClient(port: backends[.consent]!) { direct async throws in
          _ = try await ConsentClient(wrapping: direct).recordConsent(.with {
            $0.subjectID = "by-import"
            $0.purposeID = "storage"
            $0.decision = .withdrawn
            $0.evidence = .with { $0.channel = .import }
          })
        }
        for subject in subjects {
          #expect(try await eventually { try await Self.ibanLocked(vault, subject) }, "\(subject)")
        }

        // Granted again: unlocked, whichever path.
        _ = try await consent.recordConsent(.with {
          $0.subjectID = "by-record"
          $0.purposeID = "storage"
          $0.decision = .granted
          $0.evidence = .with { $0.channel = .api }
        })
        #expect(try await eventually { try await Self.ibanUnlocked(vault, "by-record") })

        // Each step is audited as the reactor's, naming the ledger event.
        let entries = try await admin.listAudit(.with {
          $0.actor = "gateway"
          $0.pageSize = 100
        }).entries
        // Written ahead: an intent before each step, its outcome after.
        let erasures = entries.filter { $0.method == "privacy.vault.v1.VaultService/EraseFields" }
        #expect(erasures.filter { $0.phase == .intent }.count == subjects.count)
        let outcomes = erasures.filter { $0.phase == .outcome }
        #expect(Set(outcomes.map(\.subjectID)) == Set(subjects))
        #expect(outcomes.allSatisfy { $0.role == "consent-reactor" && $0.reason.contains("ledger event") && $0.statusCode == 0 })
        // A first grant has nothing to unlock; only the grant after the withdrawal is a step.
        let unlocks = entries.filter { $0.method == "privacy.vault.v1.VaultService/UnlockFields" && $0.phase == .outcome }
        #expect(unlocks.map(\.subjectID) == ["by-record"])
        #expect(try await admin.verifyAudit(.init()).verification.valid)
      }
    }
  }

  @Test("a withdrawal while the record is restricted is refused by the vault, audited, and applied when the restriction is lifted")
  func restricted() async throws {
    let fixture = try GatewayFixture()
    try await fixture.run { port, backends async throws in
      try await WorkflowData.seed(backends)
      try await asRole("dpo", port: port) { client async throws in
        let admin = AdminClient(wrapping: client)
        let vault = VaultClient(wrapping: client)
        try await Self.createContacts(admin, ["frozen"])
        _ = try await admin.stopProcessing(.with {
          $0.subjectID = "frozen"
          $0.reason = "accuracy contested"
        })
        _ = try await ConsentClient(wrapping: client).recordConsent(.with {
          $0.subjectID = "frozen"
          $0.purposeID = "storage"
          $0.decision = .withdrawn
          $0.evidence = .with { $0.channel = .api }
        })
        func erasureOutcomes() async throws -> [Privacy_Gateway_V1_AuditEntry] {
          try await admin.listAudit(.with { $0.actor = "gateway"; $0.subjectID = "frozen" }).entries
            .filter { $0.method == "privacy.vault.v1.VaultService/EraseFields" && $0.phase == .outcome }
        }
        #expect(try await eventually { try await erasureOutcomes().first?.statusCode == Int32(RPCError.Code.failedPrecondition.rawValue) })
        #expect(try await vault.getRecord(.with { $0.subjectID = "frozen" }).record.field("iban")?.value.isEmpty == false)

        _ = try await admin.resumeProcessing(.with {
          $0.subjectID = "frozen"
          $0.reason = "accuracy settled"
        })
        #expect(try await eventually { try await Self.ibanLocked(vault, "frozen") })
        // The outcome entry follows the vault's answer: under load it may land a moment after
        // the field is seen locked.
        #expect(try await eventually {
          let latest = try await erasureOutcomes().first
          return latest?.statusCode == 0 && latest?.reason.contains("restriction lifted") == true
        })
      }
    }
  }

  @Test("stopping processing from the person's page (a confirmed change, never through the gateway) restricts the vault record; resuming releases it")
  func restrictionFollowsLedger() async throws {
    let fixture = try GatewayFixture()
    try await fixture.run { port, backends async throws in
      try await WorkflowData.seed(backends)
      try await asRole("dpo", port: port) { client async throws in
        let admin = AdminClient(wrapping: client)
        let vault = VaultClient(wrapping: client)
        try await Self.createContacts(admin, ["own-stop"])
        func restricted() async throws -> Bool { try await vault.getRecord(.with { $0.subjectID = "own-stop" }).record.restricted }
        #expect(try await restricted() == false)

        try await Self.confirmedChange(.with { $0.restriction = .with { $0.restricted = true } }, subject: "own-stop", consentPort: backends[.consent]!)
        #expect(try await eventually { try await restricted() })
        let state = try await ConsentClient(wrapping: client).getConsentState(.with { $0.subjectID = "own-stop" })
        #expect(state.state.restricted && state.state.restrictionReason == "asked for by the subject")

        try await Self.confirmedChange(.with { $0.restriction = .with { $0.restricted = false } }, subject: "own-stop", consentPort: backends[.consent]!)
        #expect(try await eventually { try await !restricted() })
        let steps = try await admin.listAudit(.with { $0.actor = "gateway"; $0.subjectID = "own-stop" }).entries
          .filter { $0.method == "privacy.vault.v1.VaultService/SetRestriction" && $0.phase == .outcome }
        #expect(steps.count == 2)
        #expect(steps.allSatisfy { $0.role == "consent-reactor" && $0.statusCode == 0 && $0.reason.contains("ledger event") })
      }
    }
  }

  @Test("only the latest decision counts: a withdrawal followed by a grant leaves the fields unlocked")
  func latestDecision() async throws {
    let fixture = try GatewayFixture()
    try await fixture.runBackends { backends async throws in
      try await WorkflowData.seed(backends)
      try await withRunningServer(try await fixture.gateway(backends: backends)) { port async throws in
        try await asRole("dpo", port: port) { client async throws in
          try await Self.createContacts(AdminClient(wrapping: client), ["flip"])
        }
      }
      // With the gateway down, the subject withdraws and grants again; a later gateway replays
      // both events and must not erase what the grant allows.
      try await withTestClient(port: backends[.consent]!) { direct async throws in
        let consent = ConsentClient(wrapping: direct)
        for decision: Privacy_Consent_V1_Decision in [.withdrawn, .granted] {
          _ = try await consent.recordConsent(.with {
            $0.subjectID = "flip"
            $0.purposeID = "storage"
            $0.decision = decision
            $0.evidence = .with { $0.channel = .import }
          })
        }
      }
      try await withRunningServer(try await fixture.gateway(backends: backends)) { port async throws in
        try await asRole("dpo", port: port) { client async throws in
          let admin = AdminClient(wrapping: client)
          // The reactor has passed both events once the grant's unlock (nothing was locked) is audited.
          #expect(try await eventually {
            try await admin.listAudit(.with { $0.actor = "gateway"; $0.subjectID = "flip" }).entries
              .contains { $0.method == "privacy.vault.v1.VaultService/UnlockFields" }
          })
          let entries = try await admin.listAudit(.with { $0.actor = "gateway"; $0.subjectID = "flip" }).entries
          #expect(!entries.contains { $0.method == "privacy.vault.v1.VaultService/EraseFields" })
          #expect(try await Self.ibanUnlocked(VaultClient(wrapping: client), "flip"))
        }
      }
    }
  }

  @Test("a gateway started after a withdrawal catches up from its cursor; a restart does not repeat finished steps")
  func catchUp() async throws {
    let fixture = try GatewayFixture()
    try await fixture.runBackends { backends async throws in
      try await WorkflowData.seed(backends)
      try await withRunningServer(try await fixture.gateway(backends: backends)) { port async throws in
        try await asRole("dpo", port: port) { client async throws in
          try await Self.createContacts(AdminClient(wrapping: client), ["late"])
        }
      }
      try await withTestClient(port: backends[.consent]!) { direct async throws in
        _ = try await ConsentClient(wrapping: direct).recordConsent(.with {
          $0.subjectID = "late"
          $0.purposeID = "storage"
          $0.decision = .withdrawn
          $0.evidence = .with { $0.channel = .import }
        })
      }
      func erasures(_ admin: AdminClient) async throws -> Int {
        try await admin.listAudit(.with { $0.actor = "gateway"; $0.subjectID = "late" }).entries
          .filter { $0.method == "privacy.vault.v1.VaultService/EraseFields" && $0.phase == .outcome }.count
      }
      try await withRunningServer(try await fixture.gateway(backends: backends)) { port async throws in
        try await asRole("dpo", port: port) { client async throws in
          #expect(try await eventually { try await Self.ibanLocked(VaultClient(wrapping: client), "late") })
          #expect(try await eventually { try await erasures(AdminClient(wrapping: client)) == 1 })
        }
      }
      try await withRunningServer(try await fixture.gateway(backends: backends)) { port async throws in
        try await asRole("dpo", port: port) { client async throws in
          // A new event after the restart is handled; the old one is not taken again.
          _ = try await ConsentClient(wrapping: client).recordConsent(.with {
            $0.subjectID = "late"
            $0.purposeID = "storage"
            $0.decision = .granted
            $0.evidence = .with { $0.channel = .api }
          })
          #expect(try await eventually { try await Self.ibanUnlocked(VaultClient(wrapping: client), "late") })
          #expect(try await erasures(AdminClient(wrapping: client)) == 1)
        }
      }
    }
  }
}
