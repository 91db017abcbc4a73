import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import PrivacyConsent
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Synchronization
import Testing

typealias ConsentClient = Privacy_Consent_V1_ConsentService.Client<HTTP2ClientTransport.Posix>

/// A consent service on a temporary SQLite file and a hand-moved clock. `run` starts a real
/// server on an ephemeral port and talks to it over HTTP/2; calling `run` again restarts it on the
/// same file.
final class ConsentFixture: Sendable {
  let directory: TestDirectory
  let clock: TestClock
  let databasePath: String
  let environment: [String: String]

  init(environment extra: [String: String] = [:]) throws {
    directory = try TestDirectory()
    clock = TestClock()
    databasePath = directory.path("consent.sqlite")
    environment = testEnvironment(
      database: databasePath, extra: ["PUBLIC_BASE_URL": "https://privacy.example.com/"].merging(extra) { _, new in new })
  }

  deinit { directory.remove() }

  /// With `PRIVACY_TEST_CONSENT_STORE=postgres` (the PostgreSQL pass of `scripts/test`), the
  /// service runs on a database of its own on the test cluster instead of the SQLite file.
  private let postgresURL = Mutex<String?>(nil)

  func makeServer() async throws -> PrivacyServer {
    var environment = self.environment
    if ProcessInfo.processInfo.environment["PRIVACY_TEST_CONSENT_STORE"] == "postgres" {
      if postgresURL.withLock({ $0 }) == nil {
        let url = try await PostgresTestDatabase.create()
        postgresURL.withLock { $0 = url }
      }
      environment["DATABASE_URL"] = postgresURL.withLock { $0 }
    }
    let service = try ServiceConfiguration(kind: .consent, environment: environment)
    let configuration = try ConsentConfiguration(service: service, environment: EnvironmentReader(environment))
    let clock = self.clock
    return try await makeConsentServer(configuration: configuration, logger: silentLogger, now: { clock.now() })
  }

  func run<T: Sendable>(
    identity: CallerIdentity = CallerIdentity(actor: "crm-sync", role: "service", requestID: "req-1"),
    _ body: (ConsentClient) async throws -> T
  ) async throws -> T {
    try await withRunningServer(try await makeServer()) { port async throws in
      try await withTestClient(port: port, identity: identity) { client async throws in
        try await body(ConsentClient(wrapping: client))
      }
    }
  }
}

/// Runs `body` against a fresh consent service.
func withConsentService<T: Sendable>(
  environment: [String: String] = [:], _ body: (ConsentClient, ConsentFixture) async throws -> T
) async throws -> T {
  let fixture = try ConsentFixture(environment: environment)
  return try await fixture.run { client in try await body(client, fixture) }
}

// MARK: Builders for common requests

func purpose(
  _ id: String, basis: Privacy_Consent_V1_LegalBasis = .consent, category: Privacy_Consent_V1_PurposeCategory = .emailMarketing,
  version: String = "v1", text: String = "We send you our newsletter.", vaultFields: [String] = []
) -> Privacy_Consent_V1_Purpose {
  .with {
    $0.purposeID = id
    $0.title = "Purpose \(id)"
    $0.description_p = "What \(id) is for"
    $0.legalBasis = basis
    $0.category = category
    $0.retentionDays = 365
    $0.noticeVersion = version
    $0.noticeText = text
    $0.vaultFields = vaultFields
  }
}

func evidence(
  channel: Privacy_Common_V1_Channel = .webform, actorKind: Privacy_Common_V1_ActorKind = .subject,
  age: Privacy_Consent_V1_SubjectAge = .unspecified, ip: String = "203.0.113.7", userAgent: String = "Mozilla/5.0 test",
  noticeVersion: String = ""
) -> Privacy_Consent_V1_Evidence {
  .with {
    $0.channel = channel
    $0.formName = "signup"
    $0.ipAddress = ip
    $0.userAgent = userAgent
    $0.actor = "web visitor"
    $0.actorKind = actorKind
    $0.subjectAge = age
    $0.noticeVersion = noticeVersion
  }
}

extension ConsentClient {
  @discardableResult
  func upsert(_ purpose: Privacy_Consent_V1_Purpose) async throws -> Privacy_Consent_V1_UpsertPurposeResponse {
    try await upsertPurpose(.with { $0.purpose = purpose })
  }

  @discardableResult
  func record(
    _ subject: String, _ purpose: String, _ decision: Privacy_Consent_V1_Decision,
    evidence: Privacy_Consent_V1_Evidence = evidence(), basis: Privacy_Consent_V1_LegalBasis = .unspecified
  ) async throws -> Privacy_Consent_V1_ConsentEvent {
    try await recordConsent(.with {
      $0.subjectID = subject
      $0.purposeID = purpose
      $0.decision = decision
      $0.evidence = evidence
      $0.legalBasis = basis
    }).event
  }

  func check(_ subject: String, _ purpose: String) async throws -> Privacy_Consent_V1_CheckConsentResponse {
    try await checkConsent(.with {
      $0.subjectID = subject
      $0.purposeID = purpose
    })
  }

  func allEvents(subject: String = "") async throws -> [Privacy_Consent_V1_ConsentEvent] {
    var events: [Privacy_Consent_V1_ConsentEvent] = []
    var token = ""
    repeat {
      let page = try await listConsentEvents(.with {
        $0.subjectID = subject
        $0.pageSize = 1000
        $0.pageToken = token
      })
      events += page.events
      token = page.nextPageToken
    } while !token.isEmpty
    return events
  }

  func verify(subject: String = "") async throws -> Privacy_Common_V1_ChainVerification {
    try await verifyLedger(.with { $0.subjectID = subject }).verification
  }

  func setOptIn(
    _ subject: String, _ status: Privacy_Consent_V1_OptInStatus, by setter: Privacy_Consent_V1_OptInSetter
  ) async throws -> Privacy_Consent_V1_SetEmailOptInStatusResponse {
    try await setEmailOptInStatus(.with {
      $0.subjectID = subject
      $0.status = status
      $0.setBy = setter
    })
  }

  func pendingOutbox() async throws -> [Privacy_Consent_V1_OutboxMessage] {
    try await listOutbox(.with { $0.pageSize = 1000 }).messages
  }
}

/// The token in a confirmation link.
func token(in link: String) throws -> String {
  let components = try #require(URLComponents(string: link))
  return try #require(components.queryItems?.first { $0.name == "token" }?.value)
}
