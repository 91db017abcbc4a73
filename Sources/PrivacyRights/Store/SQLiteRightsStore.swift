public import Foundation
public import GRDB
public import Logging
public import PrivacyKit

/// The subject-rights store on SQLite (the embedded default). A request is kept whole as JSON
/// (`body`, with its step log, extensions and verification state) beside the columns that lists
/// filter and sort on; artifact content lives in a table of its own so listings never load it.
public struct SQLiteRightsStore: RightsStore {
  private let pool: DatabasePool
  private let logger: Logger

  public init(path: String, logger: Logger) throws {
    self.pool = try SQLiteDatabase.open(path: path, migrator: Self.migrator)
    self.logger = logger
  }

  /// The underlying pool, for tests that inspect the file.
  public var database: DatabasePool { pool }

  static var migrator: DatabaseMigrator {
    var migrator = DatabaseMigrator()
    migrator.registerMigration("v1") { db in
      try db.execute(sql: """
        CREATE TABLE requests (
          request_id TEXT PRIMARY KEY, subject_id TEXT NOT NULL, right TEXT NOT NULL, status TEXT NOT NULL,
          origin TEXT NOT NULL, channel TEXT NOT NULL, received_at INTEGER NOT NULL, due_at INTEGER NOT NULL,
          closed_at INTEGER, updated_at INTEGER NOT NULL, idempotency_key TEXT NOT NULL, body TEXT NOT NULL);
        CREATE INDEX requests_by_due ON requests(due_at, request_id);
        CREATE INDEX requests_by_subject ON requests(subject_id, right, status);
        CREATE UNIQUE INDEX requests_by_idempotency_key ON requests(idempotency_key) WHERE idempotency_key != '';
        CREATE TABLE artifacts (
          request_id TEXT PRIMARY KEY REFERENCES requests(request_id), subject_id TEXT NOT NULL,
          expires_at INTEGER NOT NULL, content BLOB NOT NULL);
        CREATE INDEX artifacts_by_subject ON artifacts(subject_id);
        CREATE INDEX artifacts_by_expiry ON artifacts(expires_at);
        CREATE TABLE outbox (
          position INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL,
          request_id TEXT NOT NULL, recipient_email TEXT NOT NULL, subject_line TEXT NOT NULL, body TEXT NOT NULL,
          token TEXT NOT NULL, link TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER, acked_at INTEGER);
        CREATE TABLE recipients (
          recipient_id TEXT PRIMARY KEY, name TEXT NOT NULL, contact TEXT NOT NULL, purpose_ids TEXT NOT NULL,
          notes TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
        CREATE TABLE retention_policies (
          name TEXT PRIMARY KEY, inactivity_days INTEGER NOT NULL, scope TEXT NOT NULL, scope_prefix TEXT,
          description TEXT NOT NULL, disabled INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
        CREATE TABLE engagements (subject_id TEXT PRIMARY KEY, last_at INTEGER NOT NULL);
        CREATE INDEX engagements_by_time ON engagements(last_at);
        """)
    }
    migrator.registerMigration("v2: closed-request retention") { db in
      try db.execute(sql: """
        ALTER TABLE requests ADD COLUMN scrubbed INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX requests_to_scrub ON requests(closed_at) WHERE closed_at IS NOT NULL AND scrubbed = 0;
        """)
    }
    migrator.registerMigration("v3: third-country transfers") { db in
      try db.execute(sql: """
        ALTER TABLE recipients ADD COLUMN transfer_country TEXT NOT NULL DEFAULT '';
        ALTER TABLE recipients ADD COLUMN transfer_safeguard TEXT NOT NULL DEFAULT '';
        """)
    }
    migrator.registerMigration("v4: outbox delivery, art 19 notices") { db in
      try db.execute(sql: """
        ALTER TABLE outbox ADD COLUMN preference_url TEXT NOT NULL DEFAULT '';
        ALTER TABLE outbox ADD COLUMN recipient_id TEXT NOT NULL DEFAULT '';
        ALTER TABLE outbox ADD COLUMN webhook_url TEXT NOT NULL DEFAULT '';
        ALTER TABLE outbox ADD COLUMN webhook_signature TEXT NOT NULL DEFAULT '';
        ALTER TABLE outbox ADD COLUMN language TEXT NOT NULL DEFAULT 'en';
        CREATE INDEX outbox_by_request ON outbox(request_id, kind);
        ALTER TABLE recipients ADD COLUMN notify TEXT NOT NULL DEFAULT '{"email":"","url":"","webhookSecret":""}';
        """)
      for statement in OutboxDeliveryColumns.migration(table: "outbox", integer: "INTEGER") { try db.execute(sql: statement) }
    }
    return migrator
  }

  // MARK: Requests

  public func request(id: String) async throws -> SubjectRequest? {
    try await pool.read { db in
      try Row.fetchOne(db.cachedStatement(sql: "SELECT channel, body FROM requests WHERE request_id = ?"), arguments: [id]).map(Self.request(from:))
    }
  }

  public func request(idempotencyKey: String) async throws -> SubjectRequest? {
    try await pool.read { db in
      // The second condition lets SQLite use the partial unique index (keys that are not empty);
      // without it every OpenRequest with a key read the whole table.
      try Row.fetchOne(
        db.cachedStatement(sql: "SELECT channel, body FROM requests WHERE idempotency_key = ? AND idempotency_key != ''"),
        arguments: [idempotencyKey])
        .map(Self.request(from:))
    }
  }

  public func requests(_ query: RequestQuery, after cursor: RequestCursor?, limit: Int) async throws -> [SubjectRequest] {
    var conditions: [String] = []
    var arguments: [(any DatabaseValueConvertible)?] = []
    if let status = query.status {
      conditions.append("status = ?")
      arguments.append(status.rawValue)
    }
    if let right = query.right {
      conditions.append("right = ?")
      arguments.append(right.rawValue)
    }
    if let origin = query.origin {
      conditions.append("origin = ?")
      arguments.append(origin.rawValue)
    }
    if let subjectID = query.subjectID {
      conditions.append("subject_id = ?")
      arguments.append(subjectID)
    }
    if query.openOnly || query.dueBy != nil {
      conditions.append("status IN (\(RequestStatus.open.map { "'\($0.rawValue)'" }.joined(separator: ", ")))")
    }
    if let dueBy = query.dueBy {
      conditions.append("due_at <= ?")
      arguments.append(Microseconds(dueBy).value)
    }
    if let cursor {
      conditions.append("(due_at > ? OR (due_at = ? AND request_id > ?))")
      arguments.append(contentsOf: [cursor.dueAt.value, cursor.dueAt.value, cursor.requestID] as [(any DatabaseValueConvertible)?])
    }
    arguments.append(limit)
    let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
    let sql = "SELECT channel, body FROM requests \(whereClause) ORDER BY due_at, request_id LIMIT ?"
    let finalArguments = StatementArguments(arguments)
    return try await pool.read { db in
      try Row.fetchAll(db.cachedStatement(sql: sql), arguments: finalArguments).map(Self.request(from:))
    }
  }

  public func requestIDsWithArtifactExpired(by date: Date) async throws -> [String] {
    try await pool.read { db in
      try String.fetchAll(db.cachedStatement(sql: "SELECT request_id FROM artifacts WHERE expires_at <= ? ORDER BY request_id"), arguments: [Microseconds(date).value])
    }
  }

  public func nextArtifactExpiry() async throws -> Date? {
    try await pool.read { db in
      try Int64.fetchOne(db.cachedStatement(sql: "SELECT MIN(expires_at) FROM artifacts")).map { Microseconds(value: $0).date }
    }
  }

  public func requestIDsClosedUnscrubbed(by date: Date) async throws -> [String] {
    try await pool.read { db in
      try String.fetchAll(
        db.cachedStatement(sql: """
          SELECT request_id FROM requests WHERE closed_at IS NOT NULL AND scrubbed = 0 AND closed_at <= ? ORDER BY closed_at
          """), arguments: [Microseconds(date).value])
    }
  }

  public func earliestUnscrubbedClose() async throws -> Date? {
    try await pool.read { db in
      try Int64.fetchOne(db.cachedStatement(sql: "SELECT MIN(closed_at) FROM requests WHERE closed_at IS NOT NULL AND scrubbed = 0"))
        .map { Microseconds(value: $0).date }
    }
  }

  public func artifactContent(requestID: String) async throws -> Data? {
    try await pool.read { db in
      try Data.fetchOne(db.cachedStatement(sql: "SELECT content FROM artifacts WHERE request_id = ?"), arguments: [requestID])
    }
  }

  // MARK: Recipients, policies, engagements

  public func recipient(id: String) async throws -> Recipient? {
    try await pool.read { db in
      try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM recipients WHERE recipient_id = ?"), arguments: [id]).map(Self.recipient(from:))
    }
  }

  public func recipients(purposeID: String?, after cursor: String?, limit: Int) async throws -> [Recipient] {
    var conditions = ["recipient_id > ?"]
    var arguments: [(any DatabaseValueConvertible)?] = [cursor ?? ""]
    if let purposeID {
      conditions.append("EXISTS (SELECT 1 FROM json_each(recipients.purpose_ids) WHERE json_each.value = ?)")
      arguments.append(purposeID)
    }
    arguments.append(limit)
    let sql = "SELECT * FROM recipients WHERE \(conditions.joined(separator: " AND ")) ORDER BY recipient_id LIMIT ?"
    let finalArguments = StatementArguments(arguments)
    return try await pool.read { db in
      try Row.fetchAll(db.cachedStatement(sql: sql), arguments: finalArguments).map(Self.recipient(from:))
    }
  }

  public func policy(name: String) async throws -> RetentionPolicy? {
    try await pool.read { db in
      try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM retention_policies WHERE name = ?"), arguments: [name]).map(Self.policy(from:))
    }
  }

  public func policies(after cursor: String?, limit: Int) async throws -> [RetentionPolicy] {
    try await pool.read { db in
      try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM retention_policies WHERE name > ? ORDER BY name LIMIT ?"), arguments: [cursor ?? "", limit]
      ).map(Self.policy(from:))
    }
  }

  public func lastEngagement(subjectID: String) async throws -> Date? {
    try await pool.read { db in
      try Int64.fetchOne(db.cachedStatement(sql: "SELECT last_at FROM engagements WHERE subject_id = ?"), arguments: [subjectID])
        .map { Microseconds(value: $0).date }
    }
  }

  public func engagements(after: Date?, until: Date, cursor: EngagementCursor?, limit: Int) async throws -> [(subjectID: String, at: Date)] {
    var sql = "SELECT subject_id, last_at FROM engagements WHERE last_at <= ?"
    var arguments: [(any DatabaseValueConvertible)?] = [Microseconds(until).value]
    if let after {
      sql += " AND last_at > ?"
      arguments.append(Microseconds(after).value)
    }
    if let cursor {
      sql += " AND (last_at > ? OR (last_at = ? AND subject_id > ?))"
      arguments.append(contentsOf: [cursor.at.value, cursor.at.value, cursor.subjectID] as [(any DatabaseValueConvertible)?])
    }
    sql += " ORDER BY last_at, subject_id LIMIT ?"
    arguments.append(limit)
    let finalSQL = sql
    let finalArguments = StatementArguments(arguments)
    return try await pool.read { db in
      try Row.fetchAll(db.cachedStatement(sql: finalSQL), arguments: finalArguments).map { row in
        (row["subject_id"], Microseconds(value: row["last_at"]).date)
      }
    }
  }

  public func dueForRetention(now: Date, after cursor: RetentionCursor?, limit: Int) async throws -> [RetentionDue] {
    // Every (subject, enabled policy in scope) pair whose inactivity has run out; per subject the
    // policy that made it due earliest (ties: by name); minus subjects with an open ERASURE
    // request or one completed after their last engagement. Policies are the outer loop (CROSS
    // JOIN fixes SQLite's join order) and each reads only the engagements old enough for it
    // through engagements_by_time, so a page costs the subjects due, not every subject.
    let microsPerDay: Int64 = 86_400_000_000
    let open = RequestStatus.open.map { "'\($0.rawValue)'" }.joined(separator: ", ")
    var sql = """
      WITH candidates AS (
        SELECT e.subject_id, e.last_at, p.name, e.last_at + p.inactivity_days * \(microsPerDay) AS due_since,
          ROW_NUMBER() OVER (PARTITION BY e.subject_id ORDER BY e.last_at + p.inactivity_days * \(microsPerDay), p.name) AS pick
        FROM retention_policies p CROSS JOIN engagements e
        WHERE p.disabled = 0 AND e.last_at <= ? - p.inactivity_days * \(microsPerDay)
          AND (p.scope_prefix IS NULL OR substr(e.subject_id, 1, length(p.scope_prefix)) = p.scope_prefix)
      )
      SELECT subject_id, last_at, name, due_since FROM candidates c
      WHERE pick = 1 AND NOT EXISTS (
        SELECT 1 FROM requests r WHERE r.subject_id = c.subject_id AND r.right = 'erasure'
          AND (r.status IN (\(open)) OR (r.status = 'completed' AND r.closed_at > c.last_at)))
      """
    var arguments: [(any DatabaseValueConvertible)?] = [Microseconds(now).value]
    if let cursor {
      sql += " AND (due_since > ? OR (due_since = ? AND subject_id > ?))"
      arguments.append(contentsOf: [cursor.dueSince.value, cursor.dueSince.value, cursor.subjectID] as [(any DatabaseValueConvertible)?])
    }
    sql += " ORDER BY due_since, subject_id LIMIT ?"
    arguments.append(limit)
    let finalSQL = sql
    let finalArguments = StatementArguments(arguments)
    return try await pool.read { db in
      try Row.fetchAll(db.cachedStatement(sql: finalSQL), arguments: finalArguments).map { row in
        RetentionDue(
          subjectID: row["subject_id"], policyName: row["name"], lastEngagementAt: Microseconds(value: row["last_at"]).date,
          dueSince: Microseconds(value: row["due_since"]).date)
      }
    }
  }

  // MARK: Outbox

  public func outbox(after position: Int64, filter: OutboxFilter, limit: Int) async throws -> [OutboxMessage] {
    try await pool.read { db in
      try Row.fetchAll(
        db.cachedStatement(sql: "SELECT * FROM outbox WHERE position > ? \(filter.sqlCondition) ORDER BY position LIMIT ?"),
        arguments: [position, limit]
      ).map(Self.outboxMessage(from:))
    }
  }

  public func ackOutbox(ids: [String], at: Date) async throws -> Int {
    let acked = try await pool.write { db in try Self.outboxTable.acknowledge(db, ids: ids, at: at, notFound: RightsError.outboxMessageNotFound) }
    // The acknowledged messages may have held clear tokens; no old page version may keep them.
    if acked > 0 { await SQLiteDatabase.discardOldPageVersions(pool, logger: logger) }
    return acked
  }

  public func leaseOutbox(limit: Int, until: Date, now: Date) async throws -> [OutboxMessage] {
    try await pool.write { db in try Self.outboxTable.lease(db, limit: limit, until: until, now: now, decode: Self.outboxMessage(from:)) }
  }

  public func reportOutboxFailure(_ report: OutboxFailureReport, at: Date) async throws -> OutboxMessage {
    let message = try await pool.write { db in
      try Self.outboxTable.reportFailure(db, report, at: at, decode: Self.outboxMessage(from:), notFound: RightsError.outboxMessageNotFound)
    }
    // A failed message may have held a clear token; no old page version may keep it.
    if report.isPermanent { await SQLiteDatabase.discardOldPageVersions(pool, logger: logger) }
    return message
  }

  public func recipientNotices(requestID: String) async throws -> [OutboxMessage] {
    try await pool.read { db in
      try Row.fetchAll(
        db.cachedStatement(sql: "SELECT * FROM outbox WHERE request_id = ? AND kind = ? ORDER BY position"),
        arguments: [requestID, OutboxKind.recipientNotice.rawValue]
      ).map(Self.outboxMessage(from:))
    }
  }

  private static let outboxTable = OutboxTable(
    name: "outbox", wipedColumns: "recipient_email = '', body = '', token = '', link = '', preference_url = '', webhook_signature = ''")

  // MARK: Writes

  public func exclusively<T: Sendable>(_ body: () async throws -> T) async throws -> T {
    try await body()
  }

  public func commit(_ commit: RightsCommit) async throws {
    try await pool.write { db in
      for request in commit.requests { try Self.save(request, db) }
      for (requestID, content) in commit.artifactContents {
        guard let request = commit.requests.first(where: { $0.id == requestID }), let artifact = request.artifact else { continue }
        try db.cachedStatement(sql: "INSERT OR REPLACE INTO artifacts (request_id, subject_id, expires_at, content) VALUES (?, ?, ?, ?)").execute(arguments: [requestID, request.subjectID, Microseconds(artifact.expiresAt).value, content])
      }
      for requestID in commit.purgedArtifacts {
        try db.cachedStatement(sql: "DELETE FROM artifacts WHERE request_id = ?").execute(arguments: [requestID])
      }
      for requestID in commit.scrubbedOutboxRequests {
        try db.cachedStatement(sql: """
            UPDATE outbox SET recipient_email = '', body = '', token = '', link = '', preference_url = '', webhook_signature = ''
            WHERE request_id = ? AND acked_at IS NOT NULL AND recipient_email != ''
            """).execute(arguments: [requestID])
      }
      for message in commit.outbox { try Self.insert(message, db) }
      for recipient in commit.recipients { try Self.save(recipient, db) }
      for policy in commit.policies { try Self.save(policy, db) }
      for (subjectID, at) in commit.engagements {
        try db.cachedStatement(sql: """
            INSERT INTO engagements (subject_id, last_at) VALUES (?, ?)
            ON CONFLICT(subject_id) DO UPDATE SET last_at = MAX(last_at, excluded.last_at)
            """).execute(arguments: [subjectID, Microseconds(at).value])
      }
    }
    // A purged artifact or a scrubbed request held personal data: no old page version may keep it.
    if !commit.purgedArtifacts.isEmpty || !commit.scrubbedOutboxRequests.isEmpty {
      await SQLiteDatabase.discardOldPageVersions(pool, logger: logger)
    }
  }

  private static func save(_ request: SubjectRequest, _ db: Database) throws {
    let body = try StoredJSON.encode(request)
    try db.cachedStatement(sql: """
        INSERT INTO requests (request_id, subject_id, right, status, origin, channel, received_at, due_at, closed_at,
          updated_at, idempotency_key, body, scrubbed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT(request_id) DO UPDATE SET subject_id = excluded.subject_id, status = excluded.status,
          due_at = excluded.due_at, closed_at = excluded.closed_at, updated_at = excluded.updated_at, body = excluded.body,
          scrubbed = excluded.scrubbed
        """).execute(arguments: [
        request.id, request.subjectID, request.right.rawValue, request.status.rawValue, request.origin.rawValue,
        request.channel?.rawValue ?? "", Microseconds(request.receivedAt).value, Microseconds(request.dueAt).value,
        request.closedAt.map { Microseconds($0).value }, Microseconds(request.updatedAt).value, request.idempotencyKey, body,
        request.personalDataScrubbedAt == nil ? 0 : 1,
      ])
  }

  private static func save(_ recipient: Recipient, _ db: Database) throws {
    let purposes = try StoredJSON.encode(recipient.purposeIDs)
    try db.cachedStatement(sql: """
        INSERT INTO recipients (recipient_id, name, contact, purpose_ids, notes, transfer_country, transfer_safeguard,
          notify, created_at, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT(recipient_id) DO UPDATE SET name = excluded.name, contact = excluded.contact,
          purpose_ids = excluded.purpose_ids, notes = excluded.notes, transfer_country = excluded.transfer_country,
          transfer_safeguard = excluded.transfer_safeguard, notify = excluded.notify, updated_at = excluded.updated_at
        """).execute(arguments: [
        recipient.id, recipient.name, recipient.contact, purposes, recipient.notes, recipient.transfer?.country ?? "",
        recipient.transfer?.safeguard ?? "", try StoredJSON.encode(recipient.notify), Microseconds(recipient.createdAt).value,
        Microseconds(recipient.updatedAt).value,
      ])
  }

  private static func save(_ policy: RetentionPolicy, _ db: Database) throws {
    let prefix = RightsColumns.scopePrefix(policy)
    try db.cachedStatement(sql: """
        INSERT INTO retention_policies (name, inactivity_days, scope, scope_prefix, description, disabled, created_at,
          updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT(name) DO UPDATE SET inactivity_days = excluded.inactivity_days, scope = excluded.scope,
          scope_prefix = excluded.scope_prefix, description = excluded.description, disabled = excluded.disabled,
          updated_at = excluded.updated_at
        """).execute(arguments: [
        policy.name, policy.inactivityDays, policy.scope.text, prefix, policy.description, policy.disabled,
        Microseconds(policy.createdAt).value, Microseconds(policy.updatedAt).value,
      ])
  }

  private static func insert(_ m: OutboxMessage, _ db: Database) throws {
    try db.cachedStatement(sql: """
        INSERT INTO outbox (message_id, kind, request_id, recipient_email, subject_line, body, token, link, created_at,
          expires_at, preference_url, recipient_id, webhook_url, webhook_signature, language)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """).execute(arguments: [
        m.id, m.kind.rawValue, m.requestID, m.recipientEmail, m.subjectLine, m.body, m.token, m.link,
        Microseconds(m.createdAt).value, m.expiresAt.map { Microseconds($0).value }, m.preferenceURL, m.recipientID, m.webhookURL,
        m.webhookSignature, m.language.rawValue,
      ])
  }

  // MARK: Row decoding

  private static func request(from row: Row) throws -> SubjectRequest {
    try RightsColumns.request(body: row["body"], channel: row["channel"])
  }

  private static func recipient(from row: Row) throws -> Recipient {
    try RightsColumns.recipient(
      id: row["recipient_id"], name: row["name"], contact: row["contact"], purposeIDs: row["purpose_ids"], notes: row["notes"],
      transferCountry: row["transfer_country"], transferSafeguard: row["transfer_safeguard"], notify: row["notify"],
      createdAt: row["created_at"], updatedAt: row["updated_at"])
  }

  private static func policy(from row: Row) throws -> RetentionPolicy {
    try RightsColumns.policy(
      name: row["name"], inactivityDays: row["inactivity_days"], scope: row["scope"], description: row["description"],
      disabled: row["disabled"], createdAt: row["created_at"], updatedAt: row["updated_at"])
  }

  private static func outboxMessage(from row: Row) throws -> OutboxMessage {
    let id: String = row["message_id"]
    return OutboxMessage(
      id: id, kind: try RightsColumns.outboxKind(row["kind"], messageID: id), requestID: row["request_id"],
      recipientEmail: row["recipient_email"], subjectLine: row["subject_line"], body: row["body"], token: row["token"],
      link: row["link"], createdAt: Microseconds(value: row["created_at"]).date,
      expiresAt: (row["expires_at"] as Int64?).map { Microseconds(value: $0).date },
      ackedAt: (row["acked_at"] as Int64?).map { Microseconds(value: $0).date }, preferenceURL: row["preference_url"],
      language: MailLanguage(tag: row["language"]), recipientID: row["recipient_id"], webhookURL: row["webhook_url"], webhookSignature: row["webhook_signature"],
      delivery: OutboxDelivery(
        storedAttempts: row["attempts"], nextAttemptAt: row["next_attempt_at"], leasedUntil: row["leased_until"], failedAt: row["failed_at"],
        lastFailure: row["last_failure"]),
      position: row["position"])
  }
}

/// A stored row holding a value no code wrote (tampering or corruption).
public struct StoredRowUnreadable: Error, Equatable {
  public var table: String
  public var key: String
}
