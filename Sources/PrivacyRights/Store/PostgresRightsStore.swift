public import Foundation
public import Logging
import PostgresNIO
public import PrivacyKit

/// The subject-rights store on PostgreSQL, for services that run as several replicas on one
/// database: the same tables as on SQLite, prefixed `rights_`. Writes take turns through a writer
/// lock in the database (`exclusively`), so two replicas never both change one request from the
/// same reading. A commit that stores an artifact or closes a request notifies
/// `rights_changes`, which the other replicas follow to know when retention falls due.
public struct PostgresRightsStore: RightsStore {
  public let database: PostgresPool

  public static func open(_ settings: PostgresSettings, logger: Logger) async throws -> PostgresRightsStore {
    PostgresRightsStore(database: try await PostgresPool.open(settings, service: "rights", migrations: migrations, logger: logger))
  }

  private init(database: PostgresPool) { self.database = database }

  private var logger: Logger { database.logger }

  /// The channel a commit that changes when retention falls due notifies (`ReplicaFollower`).
  public static let changesChannel = "rights_changes"

  /// One list of statements per schema version, in order; never edited once released. Keys
  /// compare in byte order ("C"), as on SQLite, for the pages ordered by them.
  static let migrations: [[String]] = [
    [
      """
      CREATE TABLE rights_requests (
        request_id TEXT COLLATE "C" PRIMARY KEY, subject_id TEXT COLLATE "C" NOT NULL, "right" TEXT NOT NULL,
        status TEXT NOT NULL, origin TEXT NOT NULL, channel TEXT NOT NULL, received_at BIGINT NOT NULL, due_at BIGINT NOT NULL,
        closed_at BIGINT, updated_at BIGINT NOT NULL, idempotency_key TEXT NOT NULL, body TEXT NOT NULL,
        scrubbed BOOLEAN NOT NULL)
      """,
      "CREATE INDEX rights_requests_by_due ON rights_requests (due_at, request_id)",
      "CREATE INDEX rights_requests_by_subject ON rights_requests (subject_id, \"right\", status)",
      "CREATE UNIQUE INDEX rights_requests_by_idempotency_key ON rights_requests (idempotency_key) WHERE idempotency_key != ''",
      "CREATE INDEX rights_requests_to_scrub ON rights_requests (closed_at) WHERE closed_at IS NOT NULL AND NOT scrubbed",
      """
      CREATE TABLE rights_artifacts (
        request_id TEXT COLLATE "C" PRIMARY KEY REFERENCES rights_requests (request_id), subject_id TEXT NOT NULL,
        expires_at BIGINT NOT NULL, content BYTEA NOT NULL)
      """,
      "CREATE INDEX rights_artifacts_by_expiry ON rights_artifacts (expires_at)",
      """
      CREATE TABLE rights_outbox (
        position BIGSERIAL PRIMARY KEY, message_id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, request_id TEXT NOT NULL,
        recipient_email TEXT NOT NULL, subject_line TEXT NOT NULL, body TEXT NOT NULL, token TEXT NOT NULL, link TEXT NOT NULL,
        created_at BIGINT NOT NULL, expires_at BIGINT, acked_at BIGINT)
      """,
      "CREATE INDEX rights_outbox_by_request ON rights_outbox (request_id)",
      """
      CREATE TABLE rights_recipients (
        recipient_id TEXT COLLATE "C" PRIMARY KEY, name TEXT NOT NULL, contact TEXT NOT NULL, purpose_ids TEXT NOT NULL,
        notes TEXT NOT NULL, transfer_country TEXT NOT NULL, transfer_safeguard TEXT NOT NULL, created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL)
      """,
      """
      CREATE TABLE rights_retention_policies (
        name TEXT COLLATE "C" PRIMARY KEY, inactivity_days BIGINT NOT NULL, scope TEXT NOT NULL, scope_prefix TEXT,
        description TEXT NOT NULL, disabled BOOLEAN NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL)
      """,
      "CREATE TABLE rights_engagements (subject_id TEXT COLLATE \"C\" PRIMARY KEY, last_at BIGINT NOT NULL)",
      "CREATE INDEX rights_engagements_by_time ON rights_engagements (last_at, subject_id)",
    ],
    [
      "ALTER TABLE rights_outbox ADD COLUMN preference_url TEXT NOT NULL DEFAULT ''",
      "ALTER TABLE rights_outbox ADD COLUMN recipient_id TEXT NOT NULL DEFAULT ''",
      "ALTER TABLE rights_outbox ADD COLUMN webhook_url TEXT NOT NULL DEFAULT ''",
      "ALTER TABLE rights_outbox ADD COLUMN webhook_signature TEXT NOT NULL DEFAULT ''",
      "ALTER TABLE rights_outbox ADD COLUMN language TEXT NOT NULL DEFAULT 'en'",
      "CREATE INDEX rights_outbox_by_request_kind ON rights_outbox (request_id, kind)",
      #"ALTER TABLE rights_recipients ADD COLUMN notify TEXT NOT NULL DEFAULT '{"email":"","url":"","webhookSecret":""}'"#,
    ] + OutboxDeliveryColumns.migration(table: "rights_outbox", integer: "BIGINT"),
  ]

  // MARK: Requests

  public func request(id: String) async throws -> SubjectRequest? {
    try await requests("SELECT channel, body FROM rights_requests WHERE request_id = \(id)").first
  }

  public func request(idempotencyKey: String) async throws -> SubjectRequest? {
    // As on SQLite: the second condition is the partial unique index's, so a generic plan uses it.
    try await requests("SELECT channel, body FROM rights_requests WHERE idempotency_key = \(idempotencyKey) AND idempotency_key != ''").first
  }

  public func requests(_ query: RequestQuery, after cursor: RequestCursor?, limit: Int) async throws -> [SubjectRequest] {
    var bindings = PostgresBindings()
    var conditions: [String] = []
    if let status = query.status { conditions.append("status = \(bindings.placeholder(for: status.rawValue))") }
    if let right = query.right { conditions.append("\"right\" = \(bindings.placeholder(for: right.rawValue))") }
    if let origin = query.origin { conditions.append("origin = \(bindings.placeholder(for: origin.rawValue))") }
    if let subjectID = query.subjectID { conditions.append("subject_id = \(bindings.placeholder(for: subjectID))") }
    if query.openOnly || query.dueBy != nil {
      conditions.append("status = ANY(\(bindings.placeholder(for: RequestStatus.open.map(\.rawValue))))")
    }
    if let dueBy = query.dueBy { conditions.append("due_at <= \(bindings.placeholder(for: Microseconds(dueBy).value))") }
    if let cursor {
      conditions.append(
        "(due_at, request_id) > (\(bindings.placeholder(for: cursor.dueAt.value)), \(bindings.placeholder(for: cursor.requestID)))")
    }
    let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
    let sql = "SELECT channel, body FROM rights_requests \(whereClause) ORDER BY due_at, request_id LIMIT \(bindings.placeholder(for: limit))"
    return try await requests(PostgresQuery(unsafeSQL: sql, binds: bindings))
  }

  private func requests(_ query: PostgresQuery) async throws -> [SubjectRequest] {
    var requests: [SubjectRequest] = []
    for try await (channel, body) in try await database.query(query).decode((String, String).self) {
      requests.append(try RightsColumns.request(body: body, channel: channel))
    }
    return requests
  }

  public func requestIDsWithArtifactExpired(by date: Date) async throws -> [String] {
    try await strings("SELECT request_id FROM rights_artifacts WHERE expires_at <= \(Microseconds(date).value) ORDER BY request_id")
  }

  public func nextArtifactExpiry() async throws -> Date? {
    try await instant("SELECT MIN(expires_at) FROM rights_artifacts")
  }

  public func requestIDsClosedUnscrubbed(by date: Date) async throws -> [String] {
    try await strings(
      """
      SELECT request_id FROM rights_requests WHERE closed_at IS NOT NULL AND NOT scrubbed AND closed_at <= \(Microseconds(date).value)
      ORDER BY closed_at
      """)
  }

  public func earliestUnscrubbedClose() async throws -> Date? {
    try await instant("SELECT MIN(closed_at) FROM rights_requests WHERE closed_at IS NOT NULL AND NOT scrubbed")
  }

  public func artifactContent(requestID: String) async throws -> Data? {
    for try await content in try await database.query(
      "SELECT content FROM rights_artifacts WHERE request_id = \(requestID)"
    ).decode(Data.self) {
      return content
    }
    return nil
  }

  private func strings(_ query: PostgresQuery) async throws -> [String] {
    var values: [String] = []
    for try await value in try await database.query(query).decode(String.self) { values.append(value) }
    return values
  }

  /// The one microsecond column of the one row `query` returns, as a date; nil for NULL.
  private func instant(_ query: PostgresQuery) async throws -> Date? {
    for try await value in try await database.query(query).decode(Int64?.self) {
      return value.map { Microseconds(value: $0).date }
    }
    return nil
  }

  // MARK: Recipients, policies, engagements

  public func recipient(id: String) async throws -> Recipient? {
    try await recipients("\(unescaped: Self.selectRecipients) WHERE recipient_id = \(id)").first
  }

  public func recipients(purposeID: String?, after cursor: String?, limit: Int) async throws -> [Recipient] {
    guard let purposeID else {
      return try await recipients(
        "\(unescaped: Self.selectRecipients) WHERE recipient_id > \(cursor ?? "") ORDER BY recipient_id LIMIT \(limit)")
    }
    return try await recipients(
      """
      \(unescaped: Self.selectRecipients) WHERE recipient_id > \(cursor ?? "")
        AND EXISTS (SELECT 1 FROM jsonb_array_elements_text(purpose_ids::jsonb) AS given (id) WHERE given.id = \(purposeID))
      ORDER BY recipient_id LIMIT \(limit)
      """)
  }

  private static let selectRecipients = """
    SELECT recipient_id, name, contact, purpose_ids, notes, transfer_country, transfer_safeguard, notify, created_at, updated_at
    FROM rights_recipients
    """

  private func recipients(_ query: PostgresQuery) async throws -> [Recipient] {
    var recipients: [Recipient] = []
    let rows = try await database.query(query)
    for try await (id, name, contact, purposes, notes, country, safeguard, notify, createdAt, updatedAt)
      in rows.decode((String, String, String, String, String, String, String, String, Int64, Int64).self)
    {
      recipients.append(
        try RightsColumns.recipient(
          id: id, name: name, contact: contact, purposeIDs: purposes, notes: notes, transferCountry: country,
          transferSafeguard: safeguard, notify: notify, createdAt: createdAt, updatedAt: updatedAt))
    }
    return recipients
  }

  public func policy(name: String) async throws -> RetentionPolicy? {
    try await policies("\(unescaped: Self.selectPolicies) WHERE name = \(name)").first
  }

  public func policies(after cursor: String?, limit: Int) async throws -> [RetentionPolicy] {
    try await policies("\(unescaped: Self.selectPolicies) WHERE name > \(cursor ?? "") ORDER BY name LIMIT \(limit)")
  }

  private static let selectPolicies =
    "SELECT name, inactivity_days, scope, description, disabled, created_at, updated_at FROM rights_retention_policies"

  private func policies(_ query: PostgresQuery) async throws -> [RetentionPolicy] {
    var policies: [RetentionPolicy] = []
    let rows = try await database.query(query)
    for try await (name, days, scope, description, disabled, createdAt, updatedAt)
      in rows.decode((String, Int, String, String, Bool, Int64, Int64).self)
    {
      policies.append(
        try RightsColumns.policy(
          name: name, inactivityDays: days, scope: scope, description: description, disabled: disabled, createdAt: createdAt,
          updatedAt: updatedAt))
    }
    return policies
  }

  public func lastEngagement(subjectID: String) async throws -> Date? {
    try await instant("SELECT last_at FROM rights_engagements WHERE subject_id = \(subjectID)")
  }

  public func engagements(after: Date?, until: Date, cursor: EngagementCursor?, limit: Int) async throws -> [(subjectID: String, at: Date)] {
    var bindings = PostgresBindings()
    var conditions = ["last_at <= \(bindings.placeholder(for: Microseconds(until).value))"]
    if let after { conditions.append("last_at > \(bindings.placeholder(for: Microseconds(after).value))") }
    if let cursor {
      conditions.append(
        "(last_at, subject_id) > (\(bindings.placeholder(for: cursor.at.value)), \(bindings.placeholder(for: cursor.subjectID)))")
    }
    let sql = """
      SELECT subject_id, last_at FROM rights_engagements WHERE \(conditions.joined(separator: " AND "))
      ORDER BY last_at, subject_id LIMIT \(bindings.placeholder(for: limit))
      """
    var engagements: [(subjectID: String, at: Date)] = []
    for try await (subjectID, at) in try await database.query(PostgresQuery(unsafeSQL: sql, binds: bindings))
      .decode((String, Int64).self)
    {
      engagements.append((subjectID, Microseconds(value: at).date))
    }
    return engagements
  }

  public func dueForRetention(now: Date, after cursor: RetentionCursor?, limit: Int) async throws -> [RetentionDue] {
    // As on SQLite: every (subject, enabled policy in scope) pair whose inactivity has run out;
    // per subject the policy that made it due earliest (ties: by name); minus subjects with an
    // open ERASURE request or one completed after their last engagement. The bound on last_at
    // is on the column alone, so each policy reads only the engagements old enough for it
    // (rights_engagements_by_time), not every subject.
    var bindings = PostgresBindings()
    let microsPerDay: Int64 = 86_400_000_000
    var sql = """
      WITH candidates AS (
        SELECT e.subject_id, e.last_at, p.name, e.last_at + p.inactivity_days * \(microsPerDay) AS due_since,
          ROW_NUMBER() OVER (PARTITION BY e.subject_id ORDER BY e.last_at + p.inactivity_days * \(microsPerDay), p.name) AS pick
        FROM rights_engagements e JOIN rights_retention_policies p
          ON NOT p.disabled AND (p.scope_prefix IS NULL OR starts_with(e.subject_id, p.scope_prefix))
        WHERE e.last_at <= \(bindings.placeholder(for: Microseconds(now).value)) - p.inactivity_days * \(microsPerDay)
      )
      SELECT subject_id, last_at, name, due_since FROM candidates c
      WHERE pick = 1 AND NOT EXISTS (
        SELECT 1 FROM rights_requests r WHERE r.subject_id = c.subject_id AND r."right" = 'erasure'
          AND (r.status = ANY(\(bindings.placeholder(for: RequestStatus.open.map(\.rawValue))))
            OR (r.status = 'completed' AND r.closed_at > c.last_at)))
      """
    if let cursor {
      sql += " AND (due_since, subject_id) > (\(bindings.placeholder(for: cursor.dueSince.value)), \(bindings.placeholder(for: cursor.subjectID)))"
    }
    sql += " ORDER BY due_since, subject_id LIMIT \(bindings.placeholder(for: limit))"
    var due: [RetentionDue] = []
    for try await (subjectID, lastAt, name, dueSince) in try await database.query(
      PostgresQuery(unsafeSQL: sql, binds: bindings)
    ).decode((String, Int64, String, Int64).self) {
      due.append(
        RetentionDue(
          subjectID: subjectID, policyName: name, lastEngagementAt: Microseconds(value: lastAt).date,
          dueSince: Microseconds(value: dueSince).date))
    }
    return due
  }

  // MARK: Outbox

  public func outbox(after position: Int64, filter: OutboxFilter, limit: Int) async throws -> [OutboxMessage] {
    try await Self.outboxMessages(
      database.query(
        """
        SELECT \(unescaped: Self.outboxColumns) FROM rights_outbox WHERE position > \(position) \(unescaped: filter.sqlCondition)
        ORDER BY position LIMIT \(limit)
        """))
  }

  public func ackOutbox(ids: [String], at: Date) async throws -> Int {
    try await database.transaction { connection in
      try await Self.outboxTable.acknowledge(connection, ids: ids, at: at, logger: logger, notFound: RightsError.outboxMessageNotFound)
    }
  }

  public func leaseOutbox(limit: Int, until: Date, now: Date) async throws -> [OutboxMessage] {
    try await database.transaction { connection in
      try await Self.outboxTable.lease(
        connection, columns: Self.outboxColumns, limit: limit, until: until, now: now, logger: logger, decode: Self.outboxMessages)
    }
  }

  public func reportOutboxFailure(_ report: OutboxFailureReport, at: Date) async throws -> OutboxMessage {
    try await database.transaction { connection in
      try await Self.outboxTable.reportFailure(
        connection, columns: Self.outboxColumns, report, at: at, logger: logger, decode: Self.outboxMessages,
        notFound: RightsError.outboxMessageNotFound)
    }
  }

  public func recipientNotices(requestID: String) async throws -> [OutboxMessage] {
    try await Self.outboxMessages(
      database.query(
        """
        SELECT \(unescaped: Self.outboxColumns) FROM rights_outbox WHERE request_id = \(requestID)
          AND kind = \(OutboxKind.recipientNotice.rawValue) ORDER BY position
        """))
  }

  private static let outboxTable = OutboxTable(
    name: "rights_outbox", wipedColumns: "recipient_email = '', body = '', token = '', link = '', preference_url = '', webhook_signature = ''")

  /// The columns `outboxMessages` reads, in its order.
  private static let outboxColumns = """
    position, message_id, kind, request_id, recipient_email, subject_line, body, token, link, created_at, expires_at, acked_at,
    preference_url, recipient_id, webhook_url, webhook_signature, attempts, next_attempt_at, leased_until, failed_at, last_failure,
    language
    """

  private static func outboxMessages(_ rows: PostgresRows) async throws -> [OutboxMessage] {
    var messages: [OutboxMessage] = []
    for try await (
      position, id, kind, requestID, address, subjectLine, body, token, link, createdAt, expiresAt, ackedAt, preferenceURL,
      recipientID, webhookURL, webhookSignature, attempts, nextAttemptAt, leasedUntil, failedAt, lastFailure, language
    ) in rows.decode(
      (
        Int64, String, String, String, String, String, String, String, String, Int64, Int64?, Int64?, String, String, String, String, Int64,
        Int64, Int64, Int64?, String, String
      ).self)
    {
      messages.append(
        OutboxMessage(
          id: id, kind: try RightsColumns.outboxKind(kind, messageID: id), requestID: requestID, recipientEmail: address,
          subjectLine: subjectLine, body: body, token: token, link: link, createdAt: Microseconds(value: createdAt).date,
          expiresAt: expiresAt.map { Microseconds(value: $0).date }, ackedAt: ackedAt.map { Microseconds(value: $0).date },
          preferenceURL: preferenceURL, language: MailLanguage(tag: language), recipientID: recipientID, webhookURL: webhookURL, webhookSignature: webhookSignature,
          delivery: OutboxDelivery(
            storedAttempts: attempts, nextAttemptAt: nextAttemptAt, leasedUntil: leasedUntil, failedAt: failedAt, lastFailure: lastFailure),
          position: position))
    }
    return messages
  }

  // MARK: Writes

  /// One transaction holding the writers' advisory lock (`PostgresPool.withWriterTransaction`).
  public func exclusively<T: Sendable>(_ body: () async throws -> T) async throws -> T {
    try await database.withWriterTransaction(Self.writeLock, body)
  }

  /// The advisory-lock key of the desk's writers (any constant the replicas agree on).
  private static let writeLock: Int64 = 0x7269_6768_7473_21

  public func commit(_ commit: RightsCommit) async throws {
    try await database.transaction { connection in
      for request in commit.requests { try await save(request, connection) }
      for (requestID, content) in commit.artifactContents {
        guard let request = commit.requests.first(where: { $0.id == requestID }), let artifact = request.artifact else { continue }
        try await connection.checkedQuery(
          """
          INSERT INTO rights_artifacts (request_id, subject_id, expires_at, content)
          VALUES (\(requestID), \(request.subjectID), \(Microseconds(artifact.expiresAt).value), \(content))
          ON CONFLICT (request_id) DO UPDATE SET subject_id = excluded.subject_id, expires_at = excluded.expires_at,
            content = excluded.content
          """, logger: logger)
      }
      if !commit.purgedArtifacts.isEmpty {
        try await connection.checkedQuery("DELETE FROM rights_artifacts WHERE request_id = ANY(\(commit.purgedArtifacts))", logger: logger)
      }
      if !commit.scrubbedOutboxRequests.isEmpty {
        try await connection.checkedQuery(
          """
          UPDATE rights_outbox SET recipient_email = '', body = '', token = '', link = '', preference_url = '', webhook_signature = ''
          WHERE request_id = ANY(\(commit.scrubbedOutboxRequests)) AND acked_at IS NOT NULL AND recipient_email != ''
          """, logger: logger)
      }
      for message in commit.outbox { try await insert(message, connection) }
      for recipient in commit.recipients { try await save(recipient, connection) }
      for policy in commit.policies { try await save(policy, connection) }
      for (subjectID, at) in commit.engagements {
        try await connection.checkedQuery(
          """
          INSERT INTO rights_engagements (subject_id, last_at) VALUES (\(subjectID), \(Microseconds(at).value))
          ON CONFLICT (subject_id) DO UPDATE SET last_at = GREATEST(rights_engagements.last_at, excluded.last_at)
          """, logger: logger)
      }
      // Delivered to the other replicas when the transaction commits, not before.
      if !commit.artifactContents.isEmpty || commit.requests.contains(where: { $0.closedAt != nil }) {
        try await database.notify(Self.changesChannel, on: connection)
      }
    }
  }

  private func save(_ request: SubjectRequest, _ connection: PostgresConnection) async throws {
    try await connection.checkedQuery(
      """
      INSERT INTO rights_requests (request_id, subject_id, "right", status, origin, channel, received_at, due_at, closed_at,
        updated_at, idempotency_key, body, scrubbed)
      VALUES (\(request.id), \(request.subjectID), \(request.right.rawValue), \(request.status.rawValue), \(request.origin.rawValue),
        \(request.channel?.rawValue ?? ""), \(Microseconds(request.receivedAt).value), \(Microseconds(request.dueAt).value),
        \(request.closedAt.map { Microseconds($0).value }), \(Microseconds(request.updatedAt).value), \(request.idempotencyKey),
        \(try StoredJSON.encode(request)), \(request.personalDataScrubbedAt != nil))
      ON CONFLICT (request_id) DO UPDATE SET subject_id = excluded.subject_id, status = excluded.status, due_at = excluded.due_at,
        closed_at = excluded.closed_at, updated_at = excluded.updated_at, body = excluded.body, scrubbed = excluded.scrubbed
      """, logger: logger)
  }

  private func save(_ recipient: Recipient, _ connection: PostgresConnection) async throws {
    try await connection.checkedQuery(
      """
      INSERT INTO rights_recipients (recipient_id, name, contact, purpose_ids, notes, transfer_country, transfer_safeguard,
        notify, created_at, updated_at)
      VALUES (\(recipient.id), \(recipient.name), \(recipient.contact), \(try StoredJSON.encode(recipient.purposeIDs)),
        \(recipient.notes), \(recipient.transfer?.country ?? ""), \(recipient.transfer?.safeguard ?? ""),
        \(try StoredJSON.encode(recipient.notify)), \(Microseconds(recipient.createdAt).value), \(Microseconds(recipient.updatedAt).value))
      ON CONFLICT (recipient_id) DO UPDATE SET name = excluded.name, contact = excluded.contact, purpose_ids = excluded.purpose_ids,
        notes = excluded.notes, transfer_country = excluded.transfer_country, transfer_safeguard = excluded.transfer_safeguard,
        notify = excluded.notify, updated_at = excluded.updated_at
      """, logger: logger)
  }

  private func save(_ policy: RetentionPolicy, _ connection: PostgresConnection) async throws {
    try await connection.checkedQuery(
      """
      INSERT INTO rights_retention_policies (name, inactivity_days, scope, scope_prefix, description, disabled, created_at,
        updated_at)
      VALUES (\(policy.name), \(policy.inactivityDays), \(policy.scope.text), \(RightsColumns.scopePrefix(policy)),
        \(policy.description), \(policy.disabled), \(Microseconds(policy.createdAt).value), \(Microseconds(policy.updatedAt).value))
      ON CONFLICT (name) DO UPDATE SET inactivity_days = excluded.inactivity_days, scope = excluded.scope,
        scope_prefix = excluded.scope_prefix, description = excluded.description, disabled = excluded.disabled,
        updated_at = excluded.updated_at
      """, logger: logger)
  }

  private func insert(_ m: OutboxMessage, _ connection: PostgresConnection) async throws {
    try await connection.checkedQuery(
      """
      INSERT INTO rights_outbox (message_id, kind, request_id, recipient_email, subject_line, body, token, link, created_at,
        expires_at, preference_url, recipient_id, webhook_url, webhook_signature, language)
      VALUES (\(m.id), \(m.kind.rawValue), \(m.requestID), \(m.recipientEmail), \(m.subjectLine), \(m.body), \(m.token), \(m.link),
        \(Microseconds(m.createdAt).value), \(m.expiresAt.map { Microseconds($0).value }), \(m.preferenceURL), \(m.recipientID),
        \(m.webhookURL), \(m.webhookSignature), \(m.language.rawValue))
      """, logger: logger)
  }
}
