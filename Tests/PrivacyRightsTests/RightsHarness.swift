import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import PrivacyKit
import PrivacyProtocol
import PrivacyRights
import PrivacyTesting
import GRDB
import Synchronization
import Testing

typealias RightsClient = Privacy_Rights_V1_SubjectRightsService.Client<HTTP2ClientTransport.Posix>
typealias DSR = Privacy_Rights_V1_DataSubjectRequest

/// A subject-rights service on a temporary SQLite file and a hand-moved clock. `run` starts a real
/// server on an ephemeral port and talks to it over HTTP/2; calling `run` again restarts it on the
/// same file.
final class RightsFixture: Sendable {
  let directory: TestDirectory
  let clock: TestClock
  let databasePath: String
  let environment: [String: String]

  init(environment extra: [String: String] = [:], start: Date = Date(timeIntervalSince1970: 1_790_000_000)) throws {
    directory = try TestDirectory()
    clock = TestClock(start)
    databasePath = directory.path("rights.sqlite")
    environment = testEnvironment(
      database: databasePath, extra: ["PUBLIC_BASE_URL": "https://privacy.example.com/"].merging(extra) { _, new in new })
  }

  deinit { directory.remove() }

  /// With `PRIVACY_TEST_RIGHTS_STORE=postgres` (the PostgreSQL pass of `scripts/test`), the
  /// service runs on a database of its own on the test cluster instead of the SQLite file.
  static let onPostgres = ProcessInfo.processInfo.environment["PRIVACY_TEST_RIGHTS_STORE"] == "postgres"
  private let postgresURL = Mutex<String?>(nil)

  /// The PostgreSQL database the service runs on, nil when it runs on the SQLite file.
  private func postgresDatabase() async throws -> String? {
    if let url = environment["DATABASE_URL"], url.hasPrefix("postgres") { return url }
    guard Self.onPostgres else { return nil }
    if let url = postgresURL.withLock({ $0 }) { return url }
    let url = try await PostgresTestDatabase.create()
    postgresURL.withLock { $0 = url }
    return url
  }

  /// Whether the service's database still holds `text` anywhere: in its SQLite files, old page
  /// versions included, or on PostgreSQL in any live row of its tables (old row versions wait
  /// for VACUUM there).
  func holds(_ text: String) async throws -> Bool {
    guard let url = try await postgresDatabase() else { return filesContain(SQLiteDatabase.files(of: databasePath), text) }
    let literal = "'" + text.replacingOccurrences(of: "'", with: "''") + "'"
    let tables = ["rights_requests", "rights_outbox", "rights_recipients", "rights_retention_policies", "rights_engagements"]
    let rows = try await PostgresTestDatabase.rows(
      url,
      "SELECT (" + tables.map { "EXISTS (SELECT 1 FROM \($0) t WHERE strpos(t::text, \(literal)) > 0)" }.joined(separator: " OR ")
        + " OR EXISTS (SELECT 1 FROM rights_artifacts WHERE position(convert_to(\(literal), 'UTF8') IN content) > 0))::text")
    return rows.first?.first == "true"
  }

  /// The stored JSON body of every request.
  func storedRequestBodies() async throws -> [String] {
    if let url = try await postgresDatabase() {
      return try await PostgresTestDatabase.rows(url, "SELECT body FROM rights_requests").compactMap { $0[0] }
    }
    return try await DatabaseQueue(path: databasePath).read { db in try String.fetchAll(db, sql: "SELECT body FROM requests") }
  }

  func makeServer() async throws -> PrivacyServer {
    var environment = self.environment
    if let url = try await postgresDatabase() { environment["DATABASE_URL"] = url }
    let service = try ServiceConfiguration(kind: .rights, environment: environment)
    let clock = self.clock
    return try await makeRightsServer(
      service: service, environment: EnvironmentReader(environment), logger: silentLogger, now: { clock.now() })
  }

  func run<T: Sendable>(
    identity: CallerIdentity = CallerIdentity(actor: "dpo-anna", role: "dpo", requestID: "call-1"),
    _ body: (RightsClient) async throws -> T
  ) async throws -> T {
    try await withRunningServer(try await makeServer()) { port async throws in
      try await withTestClient(port: port, identity: identity) { client async throws in
        try await body(RightsClient(wrapping: client))
      }
    }
  }
}

/// Runs `body` against a fresh subject-rights service.
func withRightsService<T: Sendable>(
  environment: [String: String] = [:], _ body: (RightsClient, RightsFixture) async throws -> T
) async throws -> T {
  let fixture = try RightsFixture(environment: environment)
  return try await fixture.run { client in try await body(client, fixture) }
}

/// A UTC instant from its parts.
func utc(_ year: Int, _ month: Int, _ day: Int, _ hour: Int = 0, _ minute: Int = 0, _ second: Int = 0) -> Date {
  var calendar = Calendar(identifier: .gregorian)
  calendar.timeZone = TimeZone(identifier: "UTC")!
  return calendar.date(from: DateComponents(year: year, month: month, day: day, hour: hour, minute: minute, second: second))!
}

/// Everything the service shows: the state a rejected call must leave unchanged.
struct Snapshot: Equatable {
  var requests: [DSR]
  var outbox: [Privacy_Rights_V1_OutboxMessage]
  var recipients: [Privacy_Rights_V1_Recipient]
  var policies: [Privacy_Rights_V1_RetentionPolicy]
}

extension RightsClient {
  func open(
    right: Privacy_Rights_V1_Right = .access, subject: String = "c-1", email: String = "anna@example.com",
    channel: Privacy_Common_V1_Channel = .email, origin: Privacy_Rights_V1_RequestOrigin = .unspecified,
    details: Privacy_Rights_V1_RequestDetails? = nil, receivedAt: Date? = nil, key: String = ""
  ) async throws -> DSR {
    try await openRequest(.with {
      $0.right = right
      $0.subjectID = subject
      $0.requesterEmail = email
      $0.channel = channel
      $0.origin = origin
      if let details { $0.details = details }
      if let receivedAt { $0.receivedAt = receivedAt.protoTimestamp }
      $0.idempotencyKey = key
    }).request
  }

  func get(_ id: String) async throws -> DSR {
    try await getRequest(.with { $0.requestID = id }).request
  }

  func pendingOutbox() async throws -> [Privacy_Rights_V1_OutboxMessage] {
    try await listOutbox(.with { $0.pageSize = 1000 }).messages
  }

  /// Starts verification and returns the token from the outbox message.
  func startAndReadToken(_ id: String) async throws -> String {
    let started = try await startVerification(.with { $0.requestID = id })
    let message = try #require(try await pendingOutbox().first { $0.messageID == started.messageID })
    return message.token
  }

  func confirm(_ id: String, _ token: String) async throws -> DSR {
    try await confirmVerification(.with {
      $0.requestID = id
      $0.token = token
    }).request
  }

  func verifyByStaff(_ id: String) async throws -> DSR {
    try await verifyManually(.with {
      $0.requestID = id
      $0.note = "passport seen at the front desk"
    }).request
  }

  func start(_ id: String) async throws -> DSR {
    try await startProcessing(.with { $0.requestID = id }).request
  }

  @discardableResult
  func step(
    _ id: String, _ name: String, _ status: Privacy_Rights_V1_StepStatus, detail: String = "", error: String = ""
  ) async throws -> Privacy_Rights_V1_Step {
    try await recordStep(.with {
      $0.requestID = id
      $0.step = name
      $0.status = status
      $0.detail = detail
      $0.error = error
    }).step
  }

  func complete(
    _ id: String, outcome: String = "done", artifact: Privacy_Rights_V1_Artifact? = nil,
    recipients: [Privacy_Rights_V1_RecipientNotification] = [], preferenceURL: String = ""
  ) async throws -> DSR {
    try await completeRequest(.with {
      $0.requestID = id
      $0.outcome = outcome
      if let artifact { $0.artifact = artifact }
      $0.recipientsNotified = recipients
      $0.preferenceURL = preferenceURL
    }).request
  }

  /// A request opened and verified by staff, then started.
  func inProgress(right: Privacy_Rights_V1_Right = .access, subject: String = "c-1", details: Privacy_Rights_V1_RequestDetails? = nil) async throws -> DSR {
    let request = try await open(right: right, subject: subject, details: details)
    _ = try await verifyByStaff(request.requestID)
    return try await start(request.requestID)
  }

  func snapshot() async throws -> Snapshot {
    Snapshot(
      requests: try await listRequests(.with { $0.pageSize = 1000 }).requests,
      outbox: try await listOutbox(.with {
        $0.pageSize = 1000
        $0.includeAcked = true
      }).messages,
      recipients: try await listRecipients(.with { $0.pageSize = 1000 }).recipients,
      policies: try await listRetentionPolicies(.with { $0.pageSize = 1000 }).policies)
  }
}

func exportBundle(_ bytes: Int, seed: UInt8 = 1) -> Privacy_Rights_V1_Artifact {
  .with {
    $0.content = Data((0..<bytes).map { UInt8(truncatingIfNeeded: $0) &+ seed })
    $0.mediaType = "application/zip"
    $0.fileName = "access.zip"
  }
}

/// Expects `call` to fail with `code` (and `reason`, when given) and to change nothing.
func expectRefused(
  _ client: RightsClient, _ code: RPCError.Code, _ reason: String? = nil, sourceLocation: SourceLocation = #_sourceLocation,
  _ call: () async throws -> Void
) async throws {
  let before = try await client.snapshot()
  let error = await capturedRPCError { try await call() }
  #expect(error?.code == code, "\(error?.message ?? "no error")", sourceLocation: sourceLocation)
  if let reason {
    #expect(error?.errorInfoReason == reason, "\(error?.message ?? "no error")", sourceLocation: sourceLocation)
  }
  let after = try await client.snapshot()
  #expect(after == before, "a refused call changed state", sourceLocation: sourceLocation)
}
