public import Foundation
public import GRDB
public import Logging
public import PrivacyKit

/// The consent store on SQLite (the embedded default).
public struct SQLiteConsentStore: ConsentStore {
  private let pool: DatabasePool
  private let logger: Logger

  /// - Parameter durable: see `SQLiteDatabase.open`.
  public init(path: String, logger: Logger, durable: Bool = true) throws {
    self.pool = try SQLiteDatabase.open(path: path, migrator: Self.migrator, durable: durable)
    self.logger = logger
  }

  /// The underlying pool, for tests that inspect the file.
  public var database: DatabasePool { pool }

  static var migrator: DatabaseMigrator {
    var migrator = DatabaseMigrator()
    migrator.registerMigration("v1") { db in
      try db.execute(sql: """
        CREATE TABLE purposes (
          purpose_id TEXT PRIMARY KEY, title TEXT NOT NULL, description TEXT NOT NULL, legal_basis TEXT NOT NULL,
          category TEXT NOT NULL, retention_days INTEGER NOT NULL, notice_version TEXT NOT NULL,
          vault_fields TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
        CREATE TABLE purpose_notices (
          purpose_id TEXT NOT NULL REFERENCES purposes(purpose_id), version TEXT NOT NULL, text TEXT NOT NULL,
          published_at INTEGER NOT NULL, PRIMARY KEY (purpose_id, version));
        CREATE TABLE mailing_lists (
          list_id TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT NOT NULL, default_subscribed INTEGER NOT NULL,
          created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
        CREATE TABLE consent_events (
          sequence INTEGER PRIMARY KEY, subject_id TEXT NOT NULL, kind TEXT NOT NULL, purpose_id TEXT NOT NULL,
          decision TEXT, legal_basis TEXT, opt_in_status TEXT, list_id TEXT NOT NULL, restricted INTEGER NOT NULL,
          reason TEXT NOT NULL, channel TEXT NOT NULL, form_name TEXT NOT NULL, actor TEXT NOT NULL,
          actor_kind TEXT NOT NULL, notice_version TEXT NOT NULL, captured_at INTEGER NOT NULL, subject_age TEXT NOT NULL,
          ip_address TEXT NOT NULL, user_agent TEXT NOT NULL, email_address TEXT NOT NULL, pii_salt BLOB,
          pii_digest TEXT NOT NULL, personal_data_erased INTEGER NOT NULL, recorded_at INTEGER NOT NULL,
          recorded_by_actor TEXT NOT NULL, recorded_by_role TEXT NOT NULL, request_id TEXT NOT NULL,
          preference_change_id TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
        CREATE INDEX consent_events_by_subject ON consent_events(subject_id, sequence);
        CREATE INDEX consent_events_by_purpose ON consent_events(purpose_id, sequence);
        CREATE TRIGGER consent_events_append_only_delete BEFORE DELETE ON consent_events
          BEGIN SELECT RAISE(ABORT, 'the consent ledger is append-only'); END;
        CREATE TRIGGER consent_events_append_only_update BEFORE UPDATE OF
          sequence, subject_id, kind, purpose_id, decision, legal_basis, opt_in_status, list_id, restricted, reason,
          channel, form_name, actor, actor_kind, notice_version, captured_at, subject_age, pii_digest, recorded_at,
          recorded_by_actor, recorded_by_role, request_id, preference_change_id, prev_hash, hash ON consent_events
          BEGIN SELECT RAISE(ABORT, 'the consent ledger is append-only'); END;
        CREATE TABLE confirmations (
          confirmation_id TEXT PRIMARY KEY, kind TEXT NOT NULL, subject_id TEXT NOT NULL, token_hash TEXT NOT NULL UNIQUE,
          email_address TEXT NOT NULL, changes TEXT NOT NULL, form_name TEXT NOT NULL, created_at INTEGER NOT NULL,
          expires_at INTEGER NOT NULL, used_at INTEGER, superseded_at INTEGER, message_id TEXT NOT NULL);
        CREATE INDEX confirmations_by_subject ON confirmations(subject_id);
        CREATE TABLE outbox (
          position INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL,
          subject_id TEXT NOT NULL, email_address TEXT NOT NULL, subject_line TEXT NOT NULL, body TEXT NOT NULL,
          link TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, acked_at INTEGER);
        CREATE INDEX outbox_by_subject ON outbox(subject_id);
        """)
    }
    migrator.registerMigration("v2-subject-categories") { db in
      try db.execute(sql: "ALTER TABLE purposes ADD COLUMN subject_categories TEXT NOT NULL DEFAULT '[]'")
    }
    migrator.registerMigration("v3-guardian-confirmations") { db in
      try db.execute(sql: "ALTER TABLE confirmations ADD COLUMN guardian TEXT NOT NULL DEFAULT ''")
    }
    migrator.registerMigration("v4-lapsed-confirmations") { db in
      // When the ledger recorded that a double opt-in expired unconfirmed.
      try db.execute(sql: """
        ALTER TABLE confirmations ADD COLUMN lapsed_at INTEGER;
        CREATE INDEX confirmations_pending_by_expiry ON confirmations(expires_at)
          WHERE used_at IS NULL AND superseded_at IS NULL AND lapsed_at IS NULL;
        """)
    }
    migrator.registerMigration("v5-subject-states") { db in
      // Each subject's state after their last event (`SubjectState.encoded()`), written with the
      // events; the service fills it from the ledger at its first start after this migration.
      try db.execute(sql: "CREATE TABLE subject_states (subject_id TEXT PRIMARY KEY, state BLOB NOT NULL) WITHOUT ROWID")
    }
    migrator.registerMigration("v6-preference-links") { db in
      try db.execute(sql: """
        CREATE TABLE preference_links (
          link_id TEXT PRIMARY KEY, subject_id TEXT NOT NULL, token_hash TEXT NOT NULL UNIQUE, created_at INTEGER NOT NULL,
          expires_at INTEGER NOT NULL, revoked_at INTEGER);
        CREATE INDEX preference_links_by_subject ON preference_links(subject_id);
        """)
    }
    migrator.registerMigration("v8-confirmation-request-channel") { db in
      // Empty: the click stands for itself (rows written before, double opt-ins).
      try db.execute(sql: "ALTER TABLE confirmations ADD COLUMN request_channel TEXT NOT NULL DEFAULT ''")
    }
    migrator.registerMigration("v9-ask-when-and-attributes") { db in
      try db.execute(sql: """
        ALTER TABLE purposes ADD COLUMN ask_when TEXT NOT NULL DEFAULT '';
        CREATE TABLE subject_attributes (subject_id TEXT PRIMARY KEY, attributes TEXT NOT NULL, updated_at INTEGER NOT NULL);
        """)
    }
    migrator.registerMigration("v7-outbox-preference-links") { db in
      try db.execute(sql: """
        ALTER TABLE outbox ADD COLUMN preference_url TEXT NOT NULL DEFAULT '';
        ALTER TABLE outbox ADD COLUMN unsubscribe_url TEXT NOT NULL DEFAULT '';
        """)
    }
    migrator.registerMigration("v10-outbox-delivery") { db in
      for statement in OutboxDeliveryColumns.migration(table: "outbox", integer: "INTEGER") { try db.execute(sql: statement) }
      try db.execute(sql: "ALTER TABLE outbox ADD COLUMN language TEXT NOT NULL DEFAULT 'en'")
    }
    return migrator
  }

  // MARK: Reads

  public func loadPurposes() async throws -> [Purpose] {
    try await pool.read { db in
      var notices: [String: [Notice]] = [:]
      for row in try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM purpose_notices ORDER BY published_at, version")) {
        notices[row["purpose_id"], default: []].append(
          Notice(version: row["version"], text: row["text"], publishedAt: Microseconds(value: row["published_at"]).date))
      }
      return try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM purposes ORDER BY purpose_id")).map { row in
        let id: String = row["purpose_id"]
        guard let basis = LegalBasis(rawValue: row["legal_basis"]), let category = PurposeCategory(rawValue: row["category"]) else {
          throw LedgerCorruption(sequence: 0, column: "purposes.\(id)")
        }
        let fields = try JSONDecoder().decode([String].self, from: Data((row["vault_fields"] as String).utf8))
        let subjectCategories = try JSONDecoder().decode([String].self, from: Data((row["subject_categories"] as String).utf8))
        guard let askWhen = try? AskCondition(row["ask_when"] as String) else { throw LedgerCorruption(sequence: 0, column: "purposes.ask_when") }
        return Purpose(
          id: id, title: row["title"], description: row["description"], legalBasis: basis, category: category,
          retentionDays: row["retention_days"], noticeVersion: row["notice_version"], vaultFields: fields,
          notices: notices[id] ?? [], createdAt: Microseconds(value: row["created_at"]).date,
          updatedAt: Microseconds(value: row["updated_at"]).date, subjectCategories: subjectCategories, askWhen: askWhen)
      }
    }
  }

  public func loadMailingLists() async throws -> [MailingList] {
    try await pool.read { db in
      try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM mailing_lists ORDER BY list_id")).map { row in
        MailingList(
          id: row["list_id"], name: row["name"], description: row["description"], defaultSubscribed: row["default_subscribed"],
          createdAt: Microseconds(value: row["created_at"]).date, updatedAt: Microseconds(value: row["updated_at"]).date)
      }
    }
  }

  public func events(_ query: EventQuery) async throws -> [LedgerEvent] {
    var conditions = ["sequence > ?"]
    var arguments: StatementArguments = [Int64(query.after)]
    if let subject = query.subjectID {
      conditions.append("subject_id = ?")
      _ = arguments.append(contentsOf: [subject])
    }
    if let purpose = query.purposeID {
      conditions.append("purpose_id = ?")
      _ = arguments.append(contentsOf: [purpose])
    }
    _ = arguments.append(contentsOf: [query.limit])
    let sql = "\(Self.selectEvents) WHERE \(conditions.joined(separator: " AND ")) ORDER BY sequence LIMIT ?"
    let finalArguments = arguments
    return try await pool.read { db in
      try Row.fetchAll(db.cachedStatement(sql: sql), arguments: finalArguments).map(Self.event(from:))
    }
  }

  public func eventsBySubject(after position: (subjectID: String, sequence: UInt64)?, limit: Int) async throws -> [LedgerEvent] {
    try await pool.read { db in
      try Row.fetchAll(
        db.cachedStatement(sql: "\(Self.selectEvents) WHERE (subject_id, sequence) > (?, ?) ORDER BY subject_id, sequence LIMIT ?"),
        arguments: [position?.subjectID ?? "", Int64(position?.sequence ?? 0), limit]
      ).map(Self.event(from:))
    }
  }

  public func event(sequence: UInt64) async throws -> LedgerEvent? {
    try await pool.read { db in
      try Row.fetchOne(db.cachedStatement(sql: "\(Self.selectEvents) WHERE sequence = ?"), arguments: [Int64(sequence)]).map(Self.event(from:))
    }
  }

  public func lapsedDoubleOptIns(at now: Date, limit: Int) async throws -> [Confirmation] {
    try await pool.read { db in
      try Row.fetchAll(db.cachedStatement(sql: """
          SELECT * FROM confirmations WHERE kind = ? AND expires_at <= ? AND used_at IS NULL AND superseded_at IS NULL
            AND lapsed_at IS NULL ORDER BY expires_at LIMIT ?
          """), arguments: [ConfirmationKind.doubleOptIn.rawValue, Microseconds(now).value, limit]).map(Self.confirmation(from:))
    }
  }

  public func confirmation(tokenHash: String) async throws -> Confirmation? {
    try await pool.read { db in
      try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM confirmations WHERE token_hash = ?"), arguments: [tokenHash]).map(Self.confirmation(from:))
    }
  }

  public func outbox(after position: Int64, filter: OutboxFilter, limit: Int) async throws -> [OutboxMessage] {
    try await pool.read { db in
      try Row.fetchAll(
        db.cachedStatement(sql: "SELECT * FROM outbox WHERE position > ? \(filter.sqlCondition) ORDER BY position LIMIT ?"),
        arguments: [position, limit]
      ).map(Self.outboxMessage(from:))
    }
  }

  /// Read in batches by subject id from two halves of the table at once, each batch read and
  /// checked on a reader thread of its own while the batches before them are kept: a start-up at
  /// millions of subjects keeps both cores busy. Batches are separate reads, so the ledger's last
  /// sequence is read before and after: if a commit came between them, the states may be of two
  /// moments, and they are read again.
  public func subjectStates() async throws -> KeptSubjectStates {
    while true {
      let (count, middle, before) = try await pool.read { db in
        let count = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM subject_states") ?? 0
        let middle = try String.fetchOne(
          db, sql: "SELECT subject_id FROM subject_states ORDER BY subject_id LIMIT 1 OFFSET ?", arguments: [count / 2])
        return (count, middle, try Self.lastSequence(db))
      }
      var states = KeptSubjectStates(expecting: count)
      let lower = StatesRange(from: "", below: middle)
      let upper = middle.map { StatesRange(from: $0, below: nil) }
      var batches = (try await statesBatch(lower), try await statesBatch(upper))
      while !batches.0.isEmpty || !batches.1.isEmpty {
        let next = (lower.after(batches.0), upper?.after(batches.1))
        async let nextLower = statesBatch(next.0)
        async let nextUpper = statesBatch(next.1)
        for (subjectID, state) in batches.0 { states.keep(subjectID, state) }
        for (subjectID, state) in batches.1 { states.keep(subjectID, state) }
        batches = (try await nextLower, try await nextUpper)
      }
      if try await pool.read(Self.lastSequence) == before { return states }
    }
  }

  private static func lastSequence(_ db: Database) throws -> Int64 {
    try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(sequence), 0) FROM consent_events") ?? 0
  }

  /// Subjects read per batch of `subjectStates`.
  private static let statesBatchSize = 20_000

  /// Subject ids from `from` (inclusive, or exclusive once `pastFrom`) up to `below` (nil: the end).
  private struct StatesRange: Sendable {
    var from: String
    var pastFrom = false
    var below: String?

    init(from: String, below: String?) {
      self.from = from
      self.below = below
    }

    /// The rest of the range after `batch`; nil when the batch ended it.
    func after(_ batch: [(subjectID: String, state: PackedSubjectState)]) -> StatesRange? {
      guard batch.count == SQLiteConsentStore.statesBatchSize, let last = batch.last else { return nil }
      var rest = self
      rest.from = last.subjectID
      rest.pastFrom = true
      return rest
    }
  }

  /// The next batch of `range` (nil: none), each state checked.
  private func statesBatch(_ range: StatesRange?) async throws -> [(subjectID: String, state: PackedSubjectState)] {
    guard let range else { return [] }
    return try await pool.read { db in
      var batch: [(subjectID: String, state: PackedSubjectState)] = []
      batch.reserveCapacity(Self.statesBatchSize)
      let rows = try Row.fetchCursor(
        db.cachedStatement(
          sql: """
            SELECT subject_id, state FROM subject_states WHERE subject_id \(range.pastFrom ? ">" : ">=") ?
              AND (?2 IS NULL OR subject_id < ?2) ORDER BY subject_id LIMIT ?3
            """),
        arguments: [range.from, range.below, Self.statesBatchSize])
      while let row = try rows.next() {
        batch.append((row[0], try PackedSubjectState(validating: try row.withUnsafeData(atIndex: 1) { [UInt8]($0 ?? Data()) })))
      }
      return batch
    }
  }

  public func personalDataCounts(subjectID: String) async throws -> (events: Int, outboxMessages: Int) {
    try await pool.read { db in
      let events = try Int.fetchOne(db.cachedStatement(sql: "SELECT COUNT(*) FROM consent_events WHERE subject_id = ? AND pii_salt IS NOT NULL"), arguments: [subjectID]) ?? 0
      let outbox = try Int.fetchOne(db.cachedStatement(sql: "SELECT COUNT(*) FROM outbox WHERE subject_id = ? AND email_address != ''"), arguments: [subjectID]) ?? 0
      return (events, outbox)
    }
  }

  // MARK: Writes

  public func ackOutbox(ids: [String], at: Date) async throws -> Int {
    let acked = try await pool.write { db in try Self.outboxTable.acknowledge(db, ids: ids, at: at, notFound: ConsentError.outboxMessageNotFound) }
    // The acknowledged messages held clear tokens; no old page version may keep them.
    if acked > 0 { await SQLiteDatabase.discardOldPageVersions(pool, logger: logger) }
    return acked
  }

  public func leaseOutbox(limit: Int, until: Date, now: Date) async throws -> [OutboxMessage] {
    try await pool.write { db in try Self.outboxTable.lease(db, limit: limit, until: until, now: now, decode: Self.outboxMessage(from:)) }
  }

  public func reportOutboxFailure(_ report: OutboxFailureReport, at: Date) async throws -> OutboxMessage {
    let message = try await pool.write { db in
      try Self.outboxTable.reportFailure(db, report, at: at, decode: Self.outboxMessage(from:), notFound: ConsentError.outboxMessageNotFound)
    }
    // A failed message held a clear token; no old page version may keep it.
    if report.isPermanent { await SQLiteDatabase.discardOldPageVersions(pool, logger: logger) }
    return message
  }

  private static let outboxTable = OutboxTable(
    name: "outbox", wipedColumns: "email_address = '', body = '', link = '', preference_url = '', unsubscribe_url = ''")

  public func insertPreferenceLink(_ link: PreferenceLink) async throws {
    try await pool.write { db in try Self.insert(link, db) }
  }

  public func preferenceLink(tokenHash: String) async throws -> PreferenceLink? {
    try await pool.read { db in
      try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM preference_links WHERE token_hash = ?"), arguments: [tokenHash]).map { row in
        PreferenceLink(
          id: row["link_id"], subjectID: row["subject_id"], tokenHash: row["token_hash"],
          createdAt: Microseconds(value: row["created_at"]).date, expiresAt: Microseconds(value: row["expires_at"]).date,
          revokedAt: (row["revoked_at"] as Int64?).map { Microseconds(value: $0).date })
      }
    }
  }

  public func setSubjectAttributes(subjectID: String, attributes: [String: String], at: Date) async throws {
    let text = try StoredSubjectAttributes.encoded(attributes)
    try await pool.write { db in
      try db.cachedStatement(sql: """
          INSERT INTO subject_attributes (subject_id, attributes, updated_at) VALUES (?, ?, ?)
          ON CONFLICT(subject_id) DO UPDATE SET attributes = excluded.attributes, updated_at = excluded.updated_at
          """).execute(arguments: [subjectID, text, Microseconds(at).value])
    }
  }

  public func subjectAttributes(subjectID: String) async throws -> [String: String] {
    let text = try await pool.read { db in
      try String.fetchOne(db.cachedStatement(sql: "SELECT attributes FROM subject_attributes WHERE subject_id = ?"), arguments: [subjectID])
    }
    return try StoredSubjectAttributes.decoded(text)
  }

  public func deleteClosedPreferenceLinks(at now: Date, limit: Int) async throws -> Int {
    try await pool.write { db in
      try db.cachedStatement(sql: """
          DELETE FROM preference_links WHERE link_id IN (
            SELECT link_id FROM preference_links WHERE expires_at <= ? OR revoked_at IS NOT NULL LIMIT ?)
          """).execute(arguments: [Microseconds(now).value, limit])
      return db.changesCount
    }
  }

  public func revokePreferenceLinks(subjectID: String, at: Date) async throws -> Int {
    try await pool.write { db in
      try db.cachedStatement(sql: "UPDATE preference_links SET revoked_at = ? WHERE subject_id = ? AND revoked_at IS NULL")
        .execute(arguments: [Microseconds(at).value, subjectID])
      return db.changesCount
    }
  }

  public func exclusively<T: Sendable>(_ body: () async throws -> T) async throws -> T {
    try await body()
  }

  public func commit(_ commit: LedgerCommit) async throws {
    try await pool.write { db in
      for purpose in commit.purposes { try Self.save(purpose, db) }
      for list in commit.lists { try Self.save(list, db) }
      for event in commit.events { try Self.insert(event, db) }
      if let (subject, kind) = commit.supersede {
        try db.cachedStatement(sql: """
            UPDATE confirmations SET superseded_at = ?
            WHERE subject_id = ? AND kind = ? AND used_at IS NULL AND superseded_at IS NULL
            """).execute(arguments: [Microseconds(commit.now).value, subject, kind.rawValue])
      }
      for confirmation in commit.newConfirmations { try Self.insert(confirmation, db) }
      for id in commit.lapsedConfirmationIDs {
        try db.cachedStatement(sql: "UPDATE confirmations SET lapsed_at = ? WHERE confirmation_id = ?")
          .execute(arguments: [Microseconds(commit.now).value, id])
      }
      if let id = commit.usedConfirmationID {
        try db.cachedStatement(sql: "UPDATE confirmations SET used_at = ? WHERE confirmation_id = ?").execute(arguments: [Microseconds(commit.now).value, id])
      }
      for message in commit.outbox { try Self.insert(message, db) }
      for link in commit.preferenceLinks { try Self.insert(link, db) }
      for subject in commit.erasedSubjects { try Self.scrub(subject: subject, at: commit.now, db) }
      try Self.save(commit.subjectStates, db)
    }
    if !commit.erasedSubjects.isEmpty { await SQLiteDatabase.discardOldPageVersions(pool, logger: logger) }
  }

  public func saveSubjectStates(_ states: [String: SubjectState], replacingAll: Bool) async throws {
    try await pool.write { db in
      if replacingAll { try db.execute(sql: "DELETE FROM subject_states") }
      try Self.save(states, db)
    }
  }

  private static func save(_ states: [String: SubjectState], _ db: Database) throws {
    let statement = try db.cachedStatement(sql: """
        INSERT INTO subject_states (subject_id, state) VALUES (?, ?)
        ON CONFLICT(subject_id) DO UPDATE SET state = excluded.state
        """)
    for (subject, state) in states {
      try statement.execute(arguments: [subject, Data(state.encoded())])
    }
  }

  private static func save(_ purpose: Purpose, _ db: Database) throws {
    let fields = String(decoding: try JSONEncoder().encode(purpose.vaultFields), as: UTF8.self)
    let subjectCategories = String(decoding: try JSONEncoder().encode(purpose.subjectCategories), as: UTF8.self)
    try db.cachedStatement(sql: """
        INSERT INTO purposes (purpose_id, title, description, legal_basis, category, retention_days, notice_version,
          vault_fields, subject_categories, ask_when, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT(purpose_id) DO UPDATE SET title = excluded.title, description = excluded.description,
          legal_basis = excluded.legal_basis, category = excluded.category, retention_days = excluded.retention_days,
          notice_version = excluded.notice_version, vault_fields = excluded.vault_fields,
          subject_categories = excluded.subject_categories, ask_when = excluded.ask_when, updated_at = excluded.updated_at
        """).execute(arguments: [
        purpose.id, purpose.title, purpose.description, purpose.legalBasis.rawValue, purpose.category.rawValue,
        purpose.retentionDays, purpose.noticeVersion, fields, subjectCategories, purpose.askWhen.text, Microseconds(purpose.createdAt).value,
        Microseconds(purpose.updatedAt).value,
      ])
    for notice in purpose.notices {
      try db.cachedStatement(sql: "INSERT OR IGNORE INTO purpose_notices (purpose_id, version, text, published_at) VALUES (?, ?, ?, ?)").execute(arguments: [purpose.id, notice.version, notice.text, Microseconds(notice.publishedAt).value])
    }
  }

  private static func save(_ list: MailingList, _ db: Database) throws {
    try db.cachedStatement(sql: """
        INSERT INTO mailing_lists (list_id, name, description, default_subscribed, created_at, updated_at)
        VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT(list_id) DO UPDATE SET name = excluded.name, description = excluded.description,
          default_subscribed = excluded.default_subscribed, updated_at = excluded.updated_at
        """).execute(arguments: [list.id, list.name, list.description, list.defaultSubscribed, Microseconds(list.createdAt).value, Microseconds(list.updatedAt).value])
  }

  private static func insert(_ event: LedgerEvent, _ db: Database) throws {
    let e = event.evidence
    try db.cachedStatement(sql: """
        INSERT INTO consent_events (sequence, subject_id, kind, purpose_id, decision, legal_basis, opt_in_status, list_id,
          restricted, reason, channel, form_name, actor, actor_kind, notice_version, captured_at, subject_age, ip_address,
          user_agent, email_address, pii_salt, pii_digest, personal_data_erased, recorded_at, recorded_by_actor,
          recorded_by_role, request_id, preference_change_id, prev_hash, hash)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """).execute(arguments: [
        Int64(event.sequence), event.subjectID, event.kind.rawValue, event.purposeID, event.decision?.rawValue,
        event.legalBasis?.rawValue, event.optInStatus?.rawValue, event.listID, event.restricted, event.reason,
        e.channel.rawValue, e.formName, e.actor, e.actorKind.rawValue, e.noticeVersion, Microseconds(e.capturedAt).value,
        e.subjectAge.rawValue, e.ipAddress, e.userAgent, e.emailAddress, event.personalDataSalt.map { Data($0) },
        event.personalDataDigest, e.personalDataErased, Microseconds(event.recordedAt).value, event.recordedBy.actor,
        event.recordedBy.role, event.recordedBy.requestID, event.preferenceChangeID, event.previousHash, event.hash,
      ])
  }

  private static func insert(_ c: Confirmation, _ db: Database) throws {
    let changes = String(decoding: try JSONEncoder().encode(c.changes), as: UTF8.self)
    try db.cachedStatement(sql: """
        INSERT INTO confirmations (confirmation_id, kind, subject_id, token_hash, email_address, changes, form_name,
          created_at, expires_at, used_at, superseded_at, message_id, guardian, request_channel)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?, ?)
        """).execute(arguments: [
        c.id, c.kind.rawValue, c.subjectID, c.tokenHash, c.emailAddress, changes, c.formName,
        Microseconds(c.createdAt).value, Microseconds(c.expiresAt).value, c.messageID, c.guardian, c.requestChannel?.rawValue ?? "",
      ])
  }

  private static func insert(_ link: PreferenceLink, _ db: Database) throws {
    try db.cachedStatement(sql: """
        INSERT INTO preference_links (link_id, subject_id, token_hash, created_at, expires_at, revoked_at)
        VALUES (?, ?, ?, ?, ?, ?)
        """).execute(arguments: [
        link.id, link.subjectID, link.tokenHash, Microseconds(link.createdAt).value, Microseconds(link.expiresAt).value,
        link.revokedAt.map { Microseconds($0).value },
      ])
  }

  private static func insert(_ m: OutboxMessage, _ db: Database) throws {
    try db.cachedStatement(sql: """
        INSERT INTO outbox (
          message_id, kind, subject_id, email_address, subject_line, body, link, preference_url, unsubscribe_url, created_at, expires_at,
          language)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """).execute(arguments: [
        m.id, m.kind.rawValue, m.subjectID, m.emailAddress, m.subjectLine, m.body, m.link, m.preferenceURL, m.unsubscribeURL,
        Microseconds(m.createdAt).value, Microseconds(m.expiresAt).value, m.language.rawValue,
      ])
  }

  /// Erasure: removes the subject's personal evidence (keeping each event's digest), the address,
  /// body and link of their outbox messages, voids their pending confirmations and deletes their
  /// preference links.
  private static func scrub(subject: String, at now: Date, _ db: Database) throws {
    try db.cachedStatement(sql: """
        UPDATE consent_events SET ip_address = '', user_agent = '', email_address = '', pii_salt = NULL,
          personal_data_erased = 1 WHERE subject_id = ? AND pii_digest != ''
        """).execute(arguments: [subject])
    try db.cachedStatement(sql: "UPDATE outbox SET email_address = '', body = '', link = '', preference_url = '', unsubscribe_url = '' WHERE subject_id = ?").execute(arguments: [subject])
    try db.cachedStatement(sql: """
        UPDATE confirmations SET email_address = '', changes = '[]', superseded_at = COALESCE(superseded_at, ?)
        WHERE subject_id = ? AND used_at IS NULL
        """).execute(arguments: [Microseconds(now).value, subject])
    try db.cachedStatement(sql: "UPDATE confirmations SET email_address = '', guardian = '' WHERE subject_id = ?").execute(arguments: [subject])
    try db.cachedStatement(sql: "DELETE FROM preference_links WHERE subject_id = ?").execute(arguments: [subject])
    try db.cachedStatement(sql: "DELETE FROM subject_attributes WHERE subject_id = ?").execute(arguments: [subject])
  }

  // MARK: Row decoding

  /// The event columns in the order the event queries select them. Rows are decoded by position:
  /// GRDB's lookup by name compares names case-insensitively, which took half of the start-up
  /// time of a service replaying a large ledger.
  private static let eventColumns = [
    "sequence", "subject_id", "kind", "purpose_id", "decision", "legal_basis", "opt_in_status", "list_id", "restricted", "reason",
    "channel", "form_name", "actor", "actor_kind", "notice_version", "captured_at", "subject_age", "ip_address", "user_agent",
    "email_address", "pii_salt", "pii_digest", "personal_data_erased", "recorded_at", "recorded_by_actor", "recorded_by_role",
    "request_id", "preference_change_id", "prev_hash", "hash",
  ]
  private static let eventColumnPositions = Dictionary(uniqueKeysWithValues: eventColumns.enumerated().map { ($1, $0) })
  private static let selectEvents = "SELECT \(eventColumns.joined(separator: ", ")) FROM consent_events"

  private static func event(from row: Row) throws -> LedgerEvent {
    func at(_ column: String) -> Int { eventColumnPositions[column]! }
    let sequence = UInt64(row[at("sequence")] as Int64)
    func decode<T: RawRepresentable<String>>(_ column: String) throws -> T {
      guard let value = T(rawValue: row[at(column)] ?? "") else { throw LedgerCorruption(sequence: sequence, column: column) }
      return value
    }
    func decodeOptional<T: RawRepresentable<String>>(_ column: String) throws -> T? {
      guard let raw = row[at(column)] as String? else { return nil }
      guard let value = T(rawValue: raw) else { throw LedgerCorruption(sequence: sequence, column: column) }
      return value
    }
    let evidence = Evidence(
      channel: try decode("channel"), formName: row[at("form_name")], ipAddress: row[at("ip_address")], userAgent: row[at("user_agent")],
      actor: row[at("actor")], actorKind: try decode("actor_kind"), noticeVersion: row[at("notice_version")],
      capturedAt: Microseconds(value: row[at("captured_at")]).date, subjectAge: try decode("subject_age"),
      emailAddress: row[at("email_address")], personalDataErased: row[at("personal_data_erased")])
    return LedgerEvent(
      sequence: sequence, subjectID: row[at("subject_id")], kind: try decode("kind"), purposeID: row[at("purpose_id")],
      decision: try decodeOptional("decision"), legalBasis: try decodeOptional("legal_basis"),
      optInStatus: try decodeOptional("opt_in_status"), listID: row[at("list_id")], restricted: row[at("restricted")],
      reason: row[at("reason")], evidence: evidence, recordedAt: Microseconds(value: row[at("recorded_at")]).date,
      recordedBy: CallerIdentity(actor: row[at("recorded_by_actor")], role: row[at("recorded_by_role")], requestID: row[at("request_id")]),
      preferenceChangeID: row[at("preference_change_id")], personalDataSalt: (row[at("pii_salt")] as Data?).map { Array($0) },
      personalDataDigest: row[at("pii_digest")], previousHash: row[at("prev_hash")], hash: row[at("hash")])
  }

  private static func confirmation(from row: Row) throws -> Confirmation {
    guard let kind = ConfirmationKind(rawValue: row["kind"]) else { throw LedgerCorruption(sequence: 0, column: "confirmations.kind") }
    let changes = try JSONDecoder().decode([PreferenceChangeItem].self, from: Data((row["changes"] as String).utf8))
    return Confirmation(
      id: row["confirmation_id"], kind: kind, subjectID: row["subject_id"], tokenHash: row["token_hash"],
      emailAddress: row["email_address"], changes: changes, formName: row["form_name"],
      createdAt: Microseconds(value: row["created_at"]).date, expiresAt: Microseconds(value: row["expires_at"]).date,
      usedAt: (row["used_at"] as Int64?).map { Microseconds(value: $0).date },
      supersededAt: (row["superseded_at"] as Int64?).map { Microseconds(value: $0).date }, messageID: row["message_id"],
      guardian: row["guardian"], requestChannel: try Confirmation.requestChannel(stored: row["request_channel"]))
  }

  private static func outboxMessage(from row: Row) throws -> OutboxMessage {
    guard let kind = ConfirmationKind(rawValue: row["kind"]) else { throw LedgerCorruption(sequence: 0, column: "outbox.kind") }
    return OutboxMessage(
      id: row["message_id"], kind: kind, subjectID: row["subject_id"], emailAddress: row["email_address"],
      subjectLine: row["subject_line"], body: row["body"], link: row["link"], preferenceURL: row["preference_url"],
      unsubscribeURL: row["unsubscribe_url"], language: MailLanguage(tag: row["language"]),
      createdAt: Microseconds(value: row["created_at"]).date, expiresAt: Microseconds(value: row["expires_at"]).date,
      ackedAt: (row["acked_at"] as Int64?).map { Microseconds(value: $0).date },
      delivery: OutboxDelivery(
        storedAttempts: row["attempts"], nextAttemptAt: row["next_attempt_at"], leasedUntil: row["leased_until"], failedAt: row["failed_at"],
        lastFailure: row["last_failure"]),
      position: row["position"])
  }
}
