import Foundation
import GRPCCore
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Testing

@Suite("Double opt-in holds data: a webform contact waits, sealed and unusable, for the person's click")
struct DoubleOptInHoldTests {
  /// A NONE value (stored in clear once usable) distinctive enough to look for in the file.
  static let segment = "segment-held-7f3a9c"

  static func contact(_ subject: String) -> Privacy_Gateway_V1_CreateContactRequest {
    var request = WorkflowData.webformContact(
      values: WorkflowData.contactValues.merging(["segment": segment]) { _, new in new }, ownWebform: true, marketingBox: true)
    request.subjectID = subject
    return request
  }

  /// The token of the latest double opt-in link sent to the subject, from the consent outbox.
  static func doubleOptInToken(_ consent: ConsentClient, subject: String) async throws -> String {
    let messages = try await consent.listOutbox(.with { $0.pageSize = 1000 }).messages
    let message = try #require(messages.last { $0.subjectID == subject && $0.kind == .doubleOptIn })
    return try #require(URLComponents(string: message.link)?.queryItems?.first { $0.name == "token" }?.value)
  }

  static func isUsable(_ vault: VaultClient, _ subject: String) async throws -> Bool {
    try await !vault.getRecord(.with { $0.subjectID = subject }).record.pending
  }

  @Test("pending until the click: sealed, not searchable, refused to reads and writes; the confirmation releases it in clear")
  func heldUntilConfirmed() async throws {
    let fixture = try GatewayFixture()
    try await fixture.run { port, backends async throws in
      try await WorkflowData.seed(backends)
      try await asRole("dpo", port: port) { client async throws in
        let admin = AdminClient(wrapping: client)
        let vault = VaultClient(wrapping: client)
        let created = try await admin.createContact(Self.contact("waiting"))
        #expect(created.pending)
        #expect(created.fields.isEmpty)
        #expect(created.optInStatus == .singleOptInWebform)
        #expect(!created.doubleOptInMessageID.isEmpty)
        #expect(created.steps.map(\.name) == ["blocklist_checked", "consents_recorded", "opt_in_status_set", "vault_record_written", "engagement_recorded"])

        // Not usable: a read shows no value, reveals and writes are refused, search does not find it.
        let read = try await vault.getRecord(.with { $0.subjectID = "waiting" }).record
        #expect(read.pending && read.fields.isEmpty)
        let reveal = await capturedRPCError {
          try await vault.revealField(.with {
            $0.subjectID = "waiting"
            $0.field = "iban"
            $0.reason = "checking a payment"
          })
        }
        #expect(reveal?.code == .failedPrecondition)
        let write = await capturedRPCError {
          try await vault.putRecord(.with {
            $0.subjectID = "waiting"
            $0.values = ["name": "Ada King"]
            $0.source = .with { $0.channel = .api }
          })
        }
        #expect(write?.code == .failedPrecondition && write?.message.contains("double opt-in") == true)
        #expect(try await vault.findByField(.with {
          $0.field = "email"
          $0.value = "ada@example.org"
        }).records.isEmpty)
        // Sealed whatever the field says: the clear NONE value is nowhere in the vault's files.
        let vaultFiles = SQLiteDatabase.files(of: fixture.directory.path("vault.sqlite"))
        #expect(!filesContain(vaultFiles, Self.segment))

        // A submission that would not keep it pending (no marketing box) is refused and writes nothing.
        var unticked = Self.contact("waiting")
        unticked.source.marketingBoxTicked = false
        unticked.values["name"] = "Somebody Else"
        let refused = await capturedRPCError { try await admin.createContact(unticked) }
        #expect(refused?.code == .failedPrecondition && refused?.errorInfoReason == "SUBJECT_PENDING")
        let stillPending = try await vault.exportRecord(.with {
          $0.subjectID = "waiting"
          $0.reason = "checking the refusal"
        }).record
        #expect(stillPending.pending && stillPending.field("name")?.value == "Ada Lovelace")

        // A retry keeps it pending and sends no second link.
        let retried = try await admin.createContact(Self.contact("waiting"))
        #expect(retried.pending && retried.doubleOptInMessageID.isEmpty)
        #expect(retried.consentEvents.map(\.sequence) == created.consentEvents.map(\.sequence))

        // The person's click, straight to the consent service as the confirmation page does.
        try await withTestClient(port: backends[.consent]!) { direct async throws in
          let consent = ConsentClient(wrapping: direct)
          let token = try await Self.doubleOptInToken(consent, subject: "waiting")
          _ = try await consent.confirmDoubleOptIn(.with { $0.token = token })
        }
        #expect(try await eventually { try await Self.isUsable(vault, "waiting") })
        let record = try await vault.getRecord(.with { $0.subjectID = "waiting" }).record
        #expect(!record.pending && record.field("email")?.value == "ada@example.org")
        #expect(try await vault.findByField(.with {
          $0.field = "email"
          $0.value = "ada@example.org"
        }).records.map(\.subjectID) == ["waiting"])
        // Stored as the fields say from now on: the NONE value in clear.
        #expect(filesContain(vaultFiles, Self.segment))

        let releases = try await admin.listAudit(.with {
          $0.actor = "gateway"
          $0.pageSize = 100
        }).entries.filter { $0.method == "privacy.vault.v1.VaultService/ReleaseRecord" && $0.phase == .outcome }
        #expect(releases.map(\.subjectID) == ["waiting"])
        #expect(releases.allSatisfy { $0.role == "consent-reactor" && $0.statusCode == 0 && $0.reason.contains("ledger event") })
      }
    }
  }

  @Test("a link that expires unconfirmed erases the waiting contact; one confirmed in time is kept")
  func erasedAtExpiry() async throws {
    let fixture = try GatewayFixture()
    try await fixture.run(backendEnvironment: ["DOUBLE_OPT_IN_EXPIRY_CHECK_SECONDS": "1"]) { port, backends async throws in
      try await WorkflowData.seed(backends)
      try await asRole("dpo", port: port) { client async throws in
        let admin = AdminClient(wrapping: client)
        let vault = VaultClient(wrapping: client)
        _ = try await admin.createContact(Self.contact("lapsed"))
        _ = try await admin.createContact(Self.contact("confirmed"))
        try await withTestClient(port: backends[.consent]!) { direct async throws in
          let consent = ConsentClient(wrapping: direct)
          let token = try await Self.doubleOptInToken(consent, subject: "confirmed")
          _ = try await consent.confirmDoubleOptIn(.with { $0.token = token })
          #expect(try await eventually { try await Self.isUsable(vault, "confirmed") })

          // A week and a day later (the links live a week).
          fixture.clock.advance(by: 8 * 86_400)
          let expiredEvent = {
            try await consent.listConsentEvents(.with { $0.subjectID = "lapsed" }).events.contains { $0.kind == .doubleOptInExpired }
          }
          #expect(try await eventually(expiredEvent))
          // Discarded altogether: the vault no longer knows the subject.
          #expect(try await eventually {
            await capturedRPCError { try await vault.getRecord(.with { $0.subjectID = "lapsed" }) }?.code == .notFound
          })
          // The confirmed contact's link was used: no expiry, nothing erased.
          let confirmedEvents = try await consent.listConsentEvents(.with { $0.subjectID = "confirmed" }).events
          #expect(!confirmedEvents.contains { $0.kind == .doubleOptInExpired })
        }
        let kept = try await vault.getRecord(.with { $0.subjectID = "confirmed" }).record
        #expect(!kept.erased && kept.field("email")?.value == "ada@example.org")

        // Signing up again after the expiry starts afresh, with a new link.
        let again = try await admin.createContact(Self.contact("lapsed"))
        #expect(again.pending && !again.doubleOptInMessageID.isEmpty)

        let erasures = try await admin.listAudit(.with {
          $0.actor = "gateway"
          $0.pageSize = 100
        }).entries.filter { $0.method == "privacy.vault.v1.VaultService/ErasePersonalData" && $0.phase == .outcome }
        #expect(erasures.map(\.subjectID) == ["lapsed"])
        #expect(erasures.allSatisfy { $0.role == "consent-reactor" && $0.statusCode == 0 && $0.reason.contains("expired") })
      }
    }
  }

  @Test("re-entry through the person's own webform waits for the click: the blocklist entry goes on confirmation, stays if the link expires")
  func reentryHeldUntilConfirmed() async throws {
    let fixture = try GatewayFixture()
    try await fixture.run(backendEnvironment: ["DOUBLE_OPT_IN_EXPIRY_CHECK_SECONDS": "1"]) { port, backends async throws in
      try await WorkflowData.seed(backends)
      try await withTestClient(port: backends[.blocklist]!) { direct async throws in
        _ = try await BlocklistClient(wrapping: direct).add(.with {
          $0.identifiers = ["ada@example.org", "grace@example.org"].map { email in
            .with {
              $0.kind = .email
              $0.value = email
            }
          }
          $0.reason = "erased on request"
        })
      }
      func blocklisted(_ email: String) async throws -> Bool {
        try await withTestClient(port: backends[.blocklist]!) { direct async throws in
          try await BlocklistClient(wrapping: direct).check(.with {
            $0.identifiers = [.with {
              $0.kind = .email
              $0.value = email
            }]
          }).matches.contains(where: \.matched)
        }
      }
      try await asRole("dpo", port: port) { client async throws in
        let admin = AdminClient(wrapping: client)
        let ada = try await admin.createContact(Self.contact("ada-again"))
        #expect(ada.reentryOutcome == .awaitingConfirmation && ada.pending)
        var grace = Self.contact("grace-again")
        grace.values["email"] = "grace@example.org"
        #expect(try await admin.createContact(grace).reentryOutcome == .awaitingConfirmation)
        // Anyone can type an address into a form: until the click, the entries stay.
        let adaHeld = try await blocklisted("ada@example.org")
        let graceHeld = try await blocklisted("grace@example.org")
        #expect(adaHeld && graceHeld)

        try await withTestClient(port: backends[.consent]!) { direct async throws in
          let consent = ConsentClient(wrapping: direct)
          let token = try await Self.doubleOptInToken(consent, subject: "ada-again")
          _ = try await consent.confirmDoubleOptIn(.with { $0.token = token })
        }
        #expect(try await eventually { try await !blocklisted("ada@example.org") })
        // The reactor audits the outcome once the blocklist answered, a moment after the entry went.
        var removals: [Privacy_Gateway_V1_AuditEntry] = []
        #expect(try await eventually {
          removals = try await admin.listAudit(.with {
            $0.method = "privacy.blocklist.v1.BlocklistService/Remove"
            $0.pageSize = 100
          }).entries.filter { $0.phase == .outcome }
          return !removals.isEmpty
        })
        #expect(removals.map(\.subjectID) == ["ada-again"] && removals.allSatisfy { $0.role == "consent-reactor" && $0.statusCode == 0 })

        fixture.clock.advance(by: 8 * 86_400)
        #expect(try await eventually {
          await capturedRPCError { try await VaultClient(wrapping: client).getRecord(.with { $0.subjectID = "grace-again" }) }?.code == .notFound
        })
        #expect(try await blocklisted("grace@example.org"))
      }
    }
  }
}
