public import Foundation
public import Logging
import PostgresNIO
public import PrivacyKit

/// The consent store on PostgreSQL, for consent services that run as several replicas on one
/// database: the same tables as on SQLite, prefixed `consent_` so the service can share a
/// database with the others. Each commit is one transaction whose every event is inserted only if
/// it follows the ledger's last one (`append`), so replicas never fork the chain: a commit made on
/// a head another replica moved fails with `LedgerHeadMoved` and writes nothing. Each commit
/// notifies `consent_changes`, which the other replicas follow.
public struct PostgresConsentStore: ConsentStore {
  public let database: PostgresPool

  /// Table pages one chunk of `subjectStates` covers (tests make it small).
  private let statesChunkPages: Int

  /// - Parameter statesChunkPages: table pages per chunk of `subjectStates`; the default is
  ///   about 35,000 subjects, 7 MB.
  public static func open(_ settings: PostgresSettings, logger: Logger, statesChunkPages: Int = 1000) async throws -> PostgresConsentStore {
    PostgresConsentStore(
      database: try await PostgresPool.open(settings, service: "consent", migrations: migrations, logger: logger),
      statesChunkPages: max(1, statesChunkPages))
  }

  private init(database: PostgresPool, statesChunkPages: Int) {
    self.database = database
    self.statesChunkPages = statesChunkPages
  }

  private var logger: Logger { database.logger }

  /// The columns a scrub may change; every other column of an event is refused any update.
  private static let appendOnlyColumns = """
    sequence, subject_id, kind, purpose_id, decision, legal_basis, opt_in_status, list_id, restricted, reason, channel, form_name,
    actor, actor_kind, notice_version, captured_at, subject_age, pii_digest, recorded_at, recorded_by_actor, recorded_by_role,
    request_id, preference_change_id, prev_hash, hash
    """

  /// One list of statements per schema version, in order; never edited once released.
  static let migrations: [[String]] = [
    [
      """
      CREATE TABLE consent_purposes (
        purpose_id TEXT PRIMARY KEY, title TEXT NOT NULL, description TEXT NOT NULL, legal_basis TEXT NOT NULL,
        category TEXT NOT NULL, retention_days BIGINT NOT NULL, notice_version TEXT NOT NULL, vault_fields TEXT NOT NULL,
        subject_categories TEXT NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL)
      """,
      """
      CREATE TABLE consent_purpose_notices (
        purpose_id TEXT NOT NULL REFERENCES consent_purposes (purpose_id), version TEXT NOT NULL, text TEXT NOT NULL,
        published_at BIGINT NOT NULL, PRIMARY KEY (purpose_id, version))
      """,
      """
      CREATE TABLE consent_mailing_lists (
        list_id TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT NOT NULL, default_subscribed BOOLEAN NOT NULL,
        created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL)
      """,
      """
      CREATE TABLE consent_events (
        sequence BIGINT PRIMARY KEY, subject_id TEXT NOT NULL, kind TEXT NOT NULL, purpose_id TEXT NOT NULL, decision TEXT,
        legal_basis TEXT, opt_in_status TEXT, list_id TEXT NOT NULL, restricted BOOLEAN NOT NULL, reason TEXT NOT NULL,
        channel TEXT NOT NULL, form_name TEXT NOT NULL, actor TEXT NOT NULL, actor_kind TEXT NOT NULL, notice_version TEXT NOT NULL,
        captured_at BIGINT NOT NULL, subject_age TEXT NOT NULL, ip_address TEXT NOT NULL, user_agent TEXT NOT NULL,
        email_address TEXT NOT NULL, pii_salt BYTEA, pii_digest TEXT NOT NULL, personal_data_erased BOOLEAN NOT NULL,
        recorded_at BIGINT NOT NULL, recorded_by_actor TEXT NOT NULL, recorded_by_role TEXT NOT NULL, request_id TEXT NOT NULL,
        preference_change_id TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL)
      """,
      // Byte order ("C"), as on SQLite, for the walk by subject.
      "CREATE INDEX consent_events_by_subject ON consent_events (subject_id COLLATE \"C\", sequence)",
      "CREATE INDEX consent_events_by_purpose ON consent_events (purpose_id, sequence)",
      """
      CREATE FUNCTION consent_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'the consent ledger is append-only'; END $$
      """,
      "CREATE TRIGGER consent_events_no_delete BEFORE DELETE ON consent_events FOR EACH ROW EXECUTE FUNCTION consent_events_append_only()",
      """
      CREATE TRIGGER consent_events_no_update BEFORE UPDATE OF \(appendOnlyColumns) ON consent_events
        FOR EACH ROW EXECUTE FUNCTION consent_events_append_only()
      """,
      "CREATE TRIGGER consent_events_no_truncate BEFORE TRUNCATE ON consent_events FOR EACH STATEMENT EXECUTE FUNCTION consent_events_append_only()",
      """
      CREATE TABLE consent_confirmations (
        confirmation_id TEXT PRIMARY KEY, kind TEXT NOT NULL, subject_id TEXT NOT NULL, token_hash TEXT NOT NULL UNIQUE,
        email_address TEXT NOT NULL, changes TEXT NOT NULL, form_name TEXT NOT NULL, created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL, used_at BIGINT, superseded_at BIGINT, message_id TEXT NOT NULL, guardian TEXT NOT NULL,
        lapsed_at BIGINT)
      """,
      "CREATE INDEX consent_confirmations_by_subject ON consent_confirmations (subject_id)",
      """
      CREATE INDEX consent_confirmations_pending_by_expiry ON consent_confirmations (expires_at)
        WHERE used_at IS NULL AND superseded_at IS NULL AND lapsed_at IS NULL
      """,
      """
      CREATE TABLE consent_outbox (
        position BIGSERIAL PRIMARY KEY, message_id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, subject_id TEXT NOT NULL,
        email_address TEXT NOT NULL, subject_line TEXT NOT NULL, body TEXT NOT NULL, link TEXT NOT NULL,
        created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, acked_at BIGINT)
      """,
      "CREATE INDEX consent_outbox_by_subject ON consent_outbox (subject_id)",
      "CREATE TABLE consent_subject_states (subject_id TEXT PRIMARY KEY, state BYTEA NOT NULL)",
    ],
    [
      """
      CREATE TABLE consent_preference_links (
        link_id TEXT PRIMARY KEY, subject_id TEXT NOT NULL, token_hash TEXT NOT NULL UNIQUE, created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL, revoked_at BIGINT)
      """,
      "CREATE INDEX consent_preference_links_by_subject ON consent_preference_links (subject_id)",
    ],
    [
      "ALTER TABLE consent_outbox ADD COLUMN preference_url TEXT NOT NULL DEFAULT ''",
      "ALTER TABLE consent_outbox ADD COLUMN unsubscribe_url TEXT NOT NULL DEFAULT ''",
      "ALTER TABLE consent_confirmations ADD COLUMN request_channel TEXT NOT NULL DEFAULT ''",
      "ALTER TABLE consent_purposes ADD COLUMN ask_when TEXT NOT NULL DEFAULT ''",
      "CREATE TABLE consent_subject_attributes (subject_id TEXT PRIMARY KEY, attributes TEXT NOT NULL, updated_at BIGINT NOT NULL)",
    ],
    OutboxDeliveryColumns.migration(table: "consent_outbox", integer: "BIGINT")
      + ["ALTER TABLE consent_outbox ADD COLUMN language TEXT NOT NULL DEFAULT 'en'"],
  ]

  // MARK: Reads

  public func loadPurposes() async throws -> [Purpose] {
    var notices: [String: [Notice]] = [:]
    for try await (purposeID, version, text, publishedAt) in try await database.query(
      "SELECT purpose_id, version, text, published_at FROM consent_purpose_notices ORDER BY published_at, version"
    ).decode((String, String, String, Int64).self) {
      notices[purposeID, default: []].append(Notice(version: version, text: text, publishedAt: Microseconds(value: publishedAt).date))
    }
    var purposes: [Purpose] = []
    let rows = try await database.query(
      """
      SELECT purpose_id, title, description, legal_basis, category, retention_days, notice_version, vault_fields, subject_categories,
        ask_when, created_at, updated_at FROM consent_purposes ORDER BY purpose_id
      """)
    for try await (id, title, description, basis, category, retentionDays, noticeVersion, fields, categories, askWhen, createdAt, updatedAt)
      in rows.decode((String, String, String, String, String, Int64, String, String, String, String, Int64, Int64).self)
    {
      guard let legalBasis = LegalBasis(rawValue: basis), let purposeCategory = PurposeCategory(rawValue: category),
        let retentionDays = UInt32(exactly: retentionDays), let condition = try? AskCondition(askWhen)
      else {
        throw LedgerCorruption(sequence: 0, column: "purposes.\(id)")
      }
      purposes.append(
        Purpose(
          id: id, title: title, description: description, legalBasis: legalBasis, category: purposeCategory,
          retentionDays: retentionDays, noticeVersion: noticeVersion, vaultFields: try JSONDecoder().decode([String].self, from: Data(fields.utf8)),
          notices: notices[id] ?? [], createdAt: Microseconds(value: createdAt).date, updatedAt: Microseconds(value: updatedAt).date,
          subjectCategories: try JSONDecoder().decode([String].self, from: Data(categories.utf8)), askWhen: condition))
    }
    return purposes
  }

  public func loadMailingLists() async throws -> [MailingList] {
    var lists: [MailingList] = []
    for try await (id, name, description, defaultSubscribed, createdAt, updatedAt) in try await database.query(
      "SELECT list_id, name, description, default_subscribed, created_at, updated_at FROM consent_mailing_lists ORDER BY list_id"
    ).decode((String, String, String, Bool, Int64, Int64).self) {
      lists.append(
        MailingList(
          id: id, name: name, description: description, defaultSubscribed: defaultSubscribed,
          createdAt: Microseconds(value: createdAt).date, updatedAt: Microseconds(value: updatedAt).date))
    }
    return lists
  }

  public func events(_ query: EventQuery) async throws -> [LedgerEvent] {
    var bindings = PostgresBindings()
    var conditions = ["sequence > \(bindings.placeholder(for: Int64(query.after)))"]
    if let subject = query.subjectID { conditions.append("subject_id = \(bindings.placeholder(for: subject))") }
    if let purpose = query.purposeID { conditions.append("purpose_id = \(bindings.placeholder(for: purpose))") }
    let sql = "\(Self.selectEvents) WHERE \(conditions.joined(separator: " AND ")) ORDER BY sequence LIMIT \(bindings.placeholder(for: query.limit))"
    return try await events(PostgresQuery(unsafeSQL: sql, binds: bindings))
  }

  public func eventsBySubject(after position: (subjectID: String, sequence: UInt64)?, limit: Int) async throws -> [LedgerEvent] {
    try await events(
      """
      \(unescaped: Self.selectEvents) WHERE (subject_id COLLATE "C", sequence) > (\(position?.subjectID ?? ""), \(Int64(position?.sequence ?? 0)))
      ORDER BY subject_id COLLATE "C", sequence LIMIT \(limit)
      """)
  }

  public func event(sequence: UInt64) async throws -> LedgerEvent? {
    try await events("\(unescaped: Self.selectEvents) WHERE sequence = \(Int64(sequence))").first
  }

  public func lapsedDoubleOptIns(at now: Date, limit: Int) async throws -> [Confirmation] {
    try await confirmations(
      """
      SELECT \(unescaped: Self.confirmationColumns) FROM consent_confirmations
      WHERE kind = \(ConfirmationKind.doubleOptIn.rawValue) AND expires_at <= \(Microseconds(now).value) AND used_at IS NULL
        AND superseded_at IS NULL AND lapsed_at IS NULL
      ORDER BY expires_at LIMIT \(limit)
      """)
  }

  public func confirmation(tokenHash: String) async throws -> Confirmation? {
    try await confirmations(
      "SELECT \(unescaped: Self.confirmationColumns) FROM consent_confirmations WHERE token_hash = \(tokenHash)").first
  }

  public func outbox(after position: Int64, filter: OutboxFilter, limit: Int) async throws -> [OutboxMessage] {
    try await Self.outboxMessages(
      database.query(
        """
        SELECT \(unescaped: Self.outboxColumns) FROM consent_outbox WHERE position > \(position) \(unescaped: filter.sqlCondition)
        ORDER BY position LIMIT \(limit)
        """))
  }

  /// The columns `outboxMessages` reads, in its order.
  private static let outboxColumns = """
    position, message_id, kind, subject_id, email_address, subject_line, body, link, preference_url, unsubscribe_url,
    created_at, expires_at, acked_at, attempts, next_attempt_at, leased_until, failed_at, last_failure, language
    """

  private static func outboxMessages(_ rows: PostgresRows) async throws -> [OutboxMessage] {
    var messages: [OutboxMessage] = []
    for try await (
      position, id, kind, subjectID, address, subjectLine, body, link, preferenceURL, unsubscribeURL, createdAt, expiresAt, ackedAt,
      attempts, nextAttemptAt, leasedUntil, failedAt, lastFailure, language
    ) in rows.decode(
      (
        Int64, String, String, String, String, String, String, String, String, String, Int64, Int64, Int64?, Int64, Int64, Int64, Int64?,
        String, String
      ).self)
    {
      guard let kind = ConfirmationKind(rawValue: kind) else { throw LedgerCorruption(sequence: 0, column: "outbox.kind") }
      messages.append(
        OutboxMessage(
          id: id, kind: kind, subjectID: subjectID, emailAddress: address, subjectLine: subjectLine, body: body, link: link,
          preferenceURL: preferenceURL, unsubscribeURL: unsubscribeURL, language: MailLanguage(tag: language),
          createdAt: Microseconds(value: createdAt).date,
          expiresAt: Microseconds(value: expiresAt).date, ackedAt: ackedAt.map { Microseconds(value: $0).date },
          delivery: OutboxDelivery(
            storedAttempts: attempts, nextAttemptAt: nextAttemptAt, leasedUntil: leasedUntil, failedAt: failedAt, lastFailure: lastFailure),
          position: position))
    }
    return messages
  }

  /// Read in chunks of the table's pages, each chunk one row that PostgreSQL assembles: one row
  /// a subject cost postgres-nio more than all the rest of a start-up. The chunks are read in
  /// one snapshot, so the states are the ledger's at one moment, and in three stages at once:
  /// PostgreSQL assembles a chunk while the one before is unpacked and checked, and the one
  /// before that is kept.
  public func subjectStates() async throws -> KeptSubjectStates {
    try await database.snapshot { connection in
      var (pages, estimate): (Int64, Int64) = (0, 0)
      for try await size in try await connection.checkedQuery(
        """
        SELECT pg_relation_size('consent_subject_states') / 8192, GREATEST(reltuples, 0)::bigint
        FROM pg_class WHERE oid = 'consent_subject_states'::regclass
        """, logger: logger
      ).decode((Int64, Int64).self) {
        (pages, estimate) = size
      }
      var states = KeptSubjectStates(expecting: Int(estimate))
      // The last chunk is open-ended: it also holds whatever lies past the size read above.
      let starts = Array(stride(from: 0, through: Int(pages), by: statesChunkPages))
      var fetched = try await chunk(from: starts[0], to: starts.count > 1 ? starts[1] : nil, connection)
      var unpacked: [(subjectID: String, state: PackedSubjectState)] = []
      for index in starts.indices {
        async let nextFetched = index + 1 < starts.count
          ? chunk(from: starts[index + 1], to: index + 2 < starts.count ? starts[index + 2] : nil, connection) : nil
        let unpacking = fetched
        async let nextUnpacked = Self.unpack(unpacking)
        for (subjectID, state) in unpacked { states.keep(subjectID, state) }
        unpacked = try await nextUnpacked
        fetched = try await nextFetched
      }
      for (subjectID, state) in unpacked { states.keep(subjectID, state) }
      return states
    }
  }

  private static let chunkSelect = """
    SELECT string_agg(int4send(octet_length(subject_id)) || convert_to(subject_id, 'UTF8') || int4send(octet_length(state)) || state,
      ''::bytea)
    FROM consent_subject_states
    """

  /// The states stored in pages `from..<to` (`to` nil: to the end), each as a 4-byte length and
  /// the subject id, then a 4-byte length and the state; nil when the pages hold none.
  private func chunk(from: Int, to: Int?, _ connection: PostgresConnection) async throws -> ByteBuffer? {
    let query: PostgresQuery =
      if let to {
        "\(unescaped: Self.chunkSelect) WHERE ctid >= ('(' || \(from) || ',0)')::tid AND ctid < ('(' || \(to) || ',0)')::tid"
      } else {
        "\(unescaped: Self.chunkSelect) WHERE ctid >= ('(' || \(from) || ',0)')::tid"
      }
    var result: ByteBuffer?
    for try await buffer in try await connection.checkedQuery(query, logger: logger).decode(ByteBuffer?.self) { result = buffer }
    return result
  }

  /// Reads the chunk's bytes directly: ByteBuffer's reads cost more than the rest per subject.
  private static func unpack(_ buffer: ByteBuffer?) throws -> [(subjectID: String, state: PackedSubjectState)] {
    guard let buffer else { return [] }
    return try buffer.withUnsafeReadableBytes { bytes in
      var unpacked: [(subjectID: String, state: PackedSubjectState)] = []
      var position = 0
      func next() throws(SubjectStateUnreadable) -> UnsafeRawBufferPointer {
        guard bytes.count - position >= 4 else { throw SubjectStateUnreadable() }
        let length = bytes[position..<(position + 4)].reduce(0) { $0 << 8 | Int($1) }
        position += 4
        guard bytes.count - position >= length else { throw SubjectStateUnreadable() }
        defer { position += length }
        return UnsafeRawBufferPointer(rebasing: bytes[position..<(position + length)])
      }
      while position < bytes.count {
        let subjectID = String(decoding: try next(), as: UTF8.self)
        unpacked.append((subjectID, try PackedSubjectState(validating: [UInt8](try next()))))
      }
      return unpacked
    }
  }

  public func personalDataCounts(subjectID: String) async throws -> (events: Int, outboxMessages: Int) {
    var counts = (events: 0, outboxMessages: 0)
    for try await (events, messages) in try await database.query(
      """
      SELECT (SELECT COUNT(*) FROM consent_events WHERE subject_id = \(subjectID) AND pii_salt IS NOT NULL),
        (SELECT COUNT(*) FROM consent_outbox WHERE subject_id = \(subjectID) AND email_address != '')
      """
    ).decode((Int, Int).self) {
      counts = (events, messages)
    }
    return counts
  }

  // MARK: Writes

  public func ackOutbox(ids: [String], at: Date) async throws -> Int {
    try await database.transaction { connection in
      try await Self.outboxTable.acknowledge(connection, ids: ids, at: at, logger: logger, notFound: ConsentError.outboxMessageNotFound)
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
        notFound: ConsentError.outboxMessageNotFound)
    }
  }

  private static let outboxTable = OutboxTable(
    name: "consent_outbox", wipedColumns: "email_address = '', body = '', link = '', preference_url = '', unsubscribe_url = ''")

  public func insertPreferenceLink(_ link: PreferenceLink) async throws {
    try await database.transaction { connection in try await insert(link, connection) }
  }

  public func preferenceLink(tokenHash: String) async throws -> PreferenceLink? {
    let rows = try await database.query(
      """
      SELECT link_id, subject_id, token_hash, created_at, expires_at, revoked_at FROM consent_preference_links
      WHERE token_hash = \(tokenHash)
      """)
    for try await (id, subjectID, hash, createdAt, expiresAt, revokedAt) in rows.decode((String, String, String, Int64, Int64, Int64?).self) {
      return PreferenceLink(
        id: id, subjectID: subjectID, tokenHash: hash, createdAt: Microseconds(value: createdAt).date,
        expiresAt: Microseconds(value: expiresAt).date, revokedAt: revokedAt.map { Microseconds(value: $0).date })
    }
    return nil
  }

  public func setSubjectAttributes(subjectID: String, attributes: [String: String], at: Date) async throws {
    let text = try StoredSubjectAttributes.encoded(attributes)
    try await database.query(
      """
      INSERT INTO consent_subject_attributes (subject_id, attributes, updated_at) VALUES (\(subjectID), \(text), \(Microseconds(at).value))
      ON CONFLICT (subject_id) DO UPDATE SET attributes = excluded.attributes, updated_at = excluded.updated_at
      """)
  }

  public func subjectAttributes(subjectID: String) async throws -> [String: String] {
    var text: String?
    let rows = try await database.query("SELECT attributes FROM consent_subject_attributes WHERE subject_id = \(subjectID)")
    for try await attributes in rows.decode(String.self) { text = attributes }
    return try StoredSubjectAttributes.decoded(text)
  }

  public func deleteClosedPreferenceLinks(at now: Date, limit: Int) async throws -> Int {
    var deleted = 0
    let rows = try await database.query(
      """
      DELETE FROM consent_preference_links WHERE link_id IN (
        SELECT link_id FROM consent_preference_links WHERE expires_at <= \(Microseconds(now).value) OR revoked_at IS NOT NULL
        LIMIT \(limit))
      RETURNING link_id
      """)
    for try await _ in rows.decode(String.self) { deleted += 1 }
    return deleted
  }

  public func revokePreferenceLinks(subjectID: String, at: Date) async throws -> Int {
    var revoked = 0
    let rows = try await database.query(
      """
      UPDATE consent_preference_links SET revoked_at = \(Microseconds(at).value)
      WHERE subject_id = \(subjectID) AND revoked_at IS NULL RETURNING link_id
      """)
    for try await _ in rows.decode(String.self) { revoked += 1 }
    return revoked
  }

  /// One transaction holding the writers' advisory lock (`PostgresPool.withWriterTransaction`).
  public func exclusively<T: Sendable>(_ body: () async throws -> T) async throws -> T {
    try await database.withWriterTransaction(Self.writeLock, body)
  }

  /// The advisory-lock key of the ledger's writers (any constant the replicas agree on).
  private static let writeLock: Int64 = 0x636f_6e73_656e_7421

  public func commit(_ commit: LedgerCommit) async throws {
    try await database.transaction { connection in
      for event in commit.events {
        guard try await append(event, connection) else {
          throw LedgerHeadMoved(expected: event.sequence - 1, found: try await lastSequence(connection))
        }
      }
      for purpose in commit.purposes { try await save(purpose, connection) }
      for list in commit.lists { try await save(list, connection) }
      let now = Microseconds(commit.now).value
      if let (subject, kind) = commit.supersede {
        try await connection.checkedQuery(
          """
          UPDATE consent_confirmations SET superseded_at = \(now)
          WHERE subject_id = \(subject) AND kind = \(kind.rawValue) AND used_at IS NULL AND superseded_at IS NULL
          """, logger: logger)
      }
      for confirmation in commit.newConfirmations { try await insert(confirmation, connection) }
      for id in commit.lapsedConfirmationIDs {
        try await connection.checkedQuery("UPDATE consent_confirmations SET lapsed_at = \(now) WHERE confirmation_id = \(id)", logger: logger)
      }
      if let id = commit.usedConfirmationID {
        try await connection.checkedQuery("UPDATE consent_confirmations SET used_at = \(now) WHERE confirmation_id = \(id)", logger: logger)
      }
      for message in commit.outbox { try await insert(message, connection) }
      for link in commit.preferenceLinks { try await insert(link, connection) }
      for subject in commit.erasedSubjects { try await scrub(subject: subject, at: now, connection) }
      // The notification is delivered to the other replicas when the transaction commits, not before.
      let notifies = !commit.events.isEmpty || !commit.purposes.isEmpty || !commit.lists.isEmpty
      if !commit.subjectStates.isEmpty {
        try await save(commit.subjectStates, notifying: notifies, connection)
      } else if notifies {
        try await database.notify(Self.changesChannel, on: connection)
      }
    }
  }

  /// The sequence of the ledger's last event (0: none).
  private func lastSequence(_ connection: PostgresConnection) async throws -> UInt64 {
    var last: Int64 = 0
    for try await sequence in try await connection.checkedQuery(
      "SELECT COALESCE(MAX(sequence), 0) FROM consent_events", logger: logger
    ).decode(Int64.self) {
      last = sequence
    }
    return UInt64(last)
  }

  /// The channel each commit of events, purposes or mailing lists notifies (`ReplicaFollower`).
  public static let changesChannel = "consent_changes"

  public func saveSubjectStates(_ states: [String: SubjectState], replacingAll: Bool) async throws {
    try await database.transaction { connection in
      if replacingAll { try await connection.checkedQuery("DELETE FROM consent_subject_states", logger: logger) }
      try await save(states, connection)
    }
  }

  /// `notifying`: the same statement notifies `changesChannel` (one round trip less per write).
  private func save(_ states: [String: SubjectState], notifying: Bool = false, _ connection: PostgresConnection) async throws {
    guard !states.isEmpty else { return }
    let subjects = Array(states.keys)
    // The states travel as hex: postgres-nio encodes no array of byte strings.
    let encoded = subjects.map { states[$0]!.encoded().hex }
    let (notifyBefore, notifyAfter) =
      notifying ? ("WITH saved AS (", " RETURNING 1) SELECT pg_notify('\(Self.changesChannel)', '')") : ("", "")
    try await connection.checkedQuery(
      """
      \(unescaped: notifyBefore)INSERT INTO consent_subject_states (subject_id, state)
      SELECT subject_id, decode(state, 'hex') FROM unnest(\(subjects), \(encoded)) AS given (subject_id, state)
      ON CONFLICT (subject_id) DO UPDATE SET state = excluded.state\(unescaped: notifyAfter)
      """, logger: logger)
  }

  private func save(_ purpose: Purpose, _ connection: PostgresConnection) async throws {
    let fields = String(decoding: try JSONEncoder().encode(purpose.vaultFields), as: UTF8.self)
    let categories = String(decoding: try JSONEncoder().encode(purpose.subjectCategories), as: UTF8.self)
    try await connection.checkedQuery(
      """
      INSERT INTO consent_purposes (purpose_id, title, description, legal_basis, category, retention_days, notice_version,
        vault_fields, subject_categories, ask_when, created_at, updated_at)
      VALUES (\(purpose.id), \(purpose.title), \(purpose.description), \(purpose.legalBasis.rawValue), \(purpose.category.rawValue),
        \(Int64(purpose.retentionDays)), \(purpose.noticeVersion), \(fields), \(categories), \(purpose.askWhen.text),
        \(Microseconds(purpose.createdAt).value), \(Microseconds(purpose.updatedAt).value))
      ON CONFLICT (purpose_id) DO UPDATE SET title = excluded.title, description = excluded.description,
        legal_basis = excluded.legal_basis, category = excluded.category, retention_days = excluded.retention_days,
        notice_version = excluded.notice_version, vault_fields = excluded.vault_fields,
        subject_categories = excluded.subject_categories, ask_when = excluded.ask_when, updated_at = excluded.updated_at
      """, logger: logger)
    for notice in purpose.notices {
      try await connection.checkedQuery(
        """
        INSERT INTO consent_purpose_notices (purpose_id, version, text, published_at)
        VALUES (\(purpose.id), \(notice.version), \(notice.text), \(Microseconds(notice.publishedAt).value)) ON CONFLICT DO NOTHING
        """, logger: logger)
    }
  }

  private func save(_ list: MailingList, _ connection: PostgresConnection) async throws {
    try await connection.checkedQuery(
      """
      INSERT INTO consent_mailing_lists (list_id, name, description, default_subscribed, created_at, updated_at)
      VALUES (\(list.id), \(list.name), \(list.description), \(list.defaultSubscribed), \(Microseconds(list.createdAt).value),
        \(Microseconds(list.updatedAt).value))
      ON CONFLICT (list_id) DO UPDATE SET name = excluded.name, description = excluded.description,
        default_subscribed = excluded.default_subscribed, updated_at = excluded.updated_at
      """, logger: logger)
  }

  /// Appends `event` only if it extends the ledger's last event (no event at or after its
  /// sequence, and the one before holds its previous hash), in the same statement; false when it
  /// does not, and nothing was written. So no commit forks the chain, whatever lock its writer
  /// holds: two writers that read one head cannot both extend it (the second fails the check, or
  /// the primary key on `sequence` while the first is still uncommitted), and an event is never
  /// visible before the one it follows.
  private func append(_ event: LedgerEvent, _ connection: PostgresConnection) async throws -> Bool {
    let e = event.evidence
    let sequence = Int64(event.sequence)
    let appended = try await connection.checkedQuery(
      """
      INSERT INTO consent_events (\(unescaped: Self.eventColumns.joined(separator: ", ")))
      SELECT \(sequence), \(event.subjectID), \(event.kind.rawValue), \(event.purposeID), \(event.decision?.rawValue),
        \(event.legalBasis?.rawValue), \(event.optInStatus?.rawValue), \(event.listID), \(event.restricted), \(event.reason),
        \(e.channel.rawValue), \(e.formName), \(e.actor), \(e.actorKind.rawValue), \(e.noticeVersion), \(Microseconds(e.capturedAt).value),
        \(e.subjectAge.rawValue), \(e.ipAddress), \(e.userAgent), \(e.emailAddress), \(event.personalDataSalt.map { Data($0) }),
        \(event.personalDataDigest), \(e.personalDataErased), \(Microseconds(event.recordedAt).value), \(event.recordedBy.actor),
        \(event.recordedBy.role), \(event.recordedBy.requestID), \(event.preferenceChangeID), \(event.previousHash), \(event.hash)
      WHERE NOT EXISTS (SELECT 1 FROM consent_events WHERE sequence >= \(sequence))
        AND COALESCE((SELECT hash FROM consent_events WHERE sequence = \(sequence - 1)), \(HashChain.genesis)) = \(event.previousHash)
      RETURNING sequence
      """, logger: logger)
    return !appended.rows.isEmpty
  }

  private func insert(_ c: Confirmation, _ connection: PostgresConnection) async throws {
    let changes = String(decoding: try JSONEncoder().encode(c.changes), as: UTF8.self)
    try await connection.checkedQuery(
      """
      INSERT INTO consent_confirmations (confirmation_id, kind, subject_id, token_hash, email_address, changes, form_name,
        created_at, expires_at, message_id, guardian, request_channel)
      VALUES (\(c.id), \(c.kind.rawValue), \(c.subjectID), \(c.tokenHash), \(c.emailAddress), \(changes), \(c.formName),
        \(Microseconds(c.createdAt).value), \(Microseconds(c.expiresAt).value), \(c.messageID), \(c.guardian),
        \(c.requestChannel?.rawValue ?? ""))
      """, logger: logger)
  }

  private func insert(_ link: PreferenceLink, _ connection: PostgresConnection) async throws {
    try await connection.checkedQuery(
      """
      INSERT INTO consent_preference_links (link_id, subject_id, token_hash, created_at, expires_at, revoked_at)
      VALUES (\(link.id), \(link.subjectID), \(link.tokenHash), \(Microseconds(link.createdAt).value),
        \(Microseconds(link.expiresAt).value), \(link.revokedAt.map { Microseconds($0).value }))
      """, logger: logger)
  }

  private func insert(_ m: OutboxMessage, _ connection: PostgresConnection) async throws {
    try await connection.checkedQuery(
      """
      INSERT INTO consent_outbox (
        message_id, kind, subject_id, email_address, subject_line, body, link, preference_url, unsubscribe_url, created_at, expires_at,
        language)
      VALUES (\(m.id), \(m.kind.rawValue), \(m.subjectID), \(m.emailAddress), \(m.subjectLine), \(m.body), \(m.link),
        \(m.preferenceURL), \(m.unsubscribeURL), \(Microseconds(m.createdAt).value), \(Microseconds(m.expiresAt).value),
        \(m.language.rawValue))
      """, logger: logger)
  }

  /// Erasure: as on SQLite, the subject's personal evidence goes (each event keeps its digest),
  /// with the address, body and link of their outbox messages, and their pending confirmations.
  private func scrub(subject: String, at now: Int64, _ connection: PostgresConnection) async throws {
    try await connection.checkedQuery(
      """
      UPDATE consent_events SET ip_address = '', user_agent = '', email_address = '', pii_salt = NULL, personal_data_erased = TRUE
      WHERE subject_id = \(subject) AND pii_digest != ''
      """, logger: logger)
    try await connection.checkedQuery(
      "UPDATE consent_outbox SET email_address = '', body = '', link = '', preference_url = '', unsubscribe_url = '' WHERE subject_id = \(subject)", logger: logger)
    try await connection.checkedQuery(
      """
      UPDATE consent_confirmations SET email_address = '', changes = '[]', superseded_at = COALESCE(superseded_at, \(now))
      WHERE subject_id = \(subject) AND used_at IS NULL
      """, logger: logger)
    try await connection.checkedQuery(
      "UPDATE consent_confirmations SET email_address = '', guardian = '' WHERE subject_id = \(subject)", logger: logger)
    try await connection.checkedQuery("DELETE FROM consent_preference_links WHERE subject_id = \(subject)", logger: logger)
    try await connection.checkedQuery("DELETE FROM consent_subject_attributes WHERE subject_id = \(subject)", logger: logger)
  }

  // MARK: Row decoding

  private static let eventColumns = [
    "sequence", "subject_id", "kind", "purpose_id", "decision", "legal_basis", "opt_in_status", "list_id", "restricted", "reason",
    "channel", "form_name", "actor", "actor_kind", "notice_version", "captured_at", "subject_age", "ip_address", "user_agent",
    "email_address", "pii_salt", "pii_digest", "personal_data_erased", "recorded_at", "recorded_by_actor", "recorded_by_role",
    "request_id", "preference_change_id", "prev_hash", "hash",
  ]
  private static let selectEvents = "SELECT \(eventColumns.joined(separator: ", ")) FROM consent_events"

  private func events(_ query: PostgresQuery) async throws -> [LedgerEvent] {
    var events: [LedgerEvent] = []
    for try await row in try await database.query(query) {
      events.append(try Self.event(from: row.makeRandomAccess()))
    }
    return events
  }

  private static func event(from row: PostgresRandomAccessRow) throws -> LedgerEvent {
    let sequence = UInt64(try row["sequence"].decode(Int64.self))
    func text(_ column: String) throws -> String { try row[column].decode(String.self) }
    func integer(_ column: String) throws -> Int64 { try row[column].decode(Int64.self) }
    func decode<T: RawRepresentable<String>>(_ column: String) throws -> T {
      guard let value = T(rawValue: try text(column)) else { throw LedgerCorruption(sequence: sequence, column: column) }
      return value
    }
    func decodeOptional<T: RawRepresentable<String>>(_ column: String) throws -> T? {
      guard let raw = try row[column].decode(String?.self) else { return nil }
      guard let value = T(rawValue: raw) else { throw LedgerCorruption(sequence: sequence, column: column) }
      return value
    }
    let evidence = Evidence(
      channel: try decode("channel"), formName: try text("form_name"), ipAddress: try text("ip_address"), userAgent: try text("user_agent"),
      actor: try text("actor"), actorKind: try decode("actor_kind"), noticeVersion: try text("notice_version"),
      capturedAt: Microseconds(value: try integer("captured_at")).date, subjectAge: try decode("subject_age"),
      emailAddress: try text("email_address"), personalDataErased: try row["personal_data_erased"].decode(Bool.self))
    return LedgerEvent(
      sequence: sequence, subjectID: try text("subject_id"), kind: try decode("kind"), purposeID: try text("purpose_id"),
      decision: try decodeOptional("decision"), legalBasis: try decodeOptional("legal_basis"),
      optInStatus: try decodeOptional("opt_in_status"), listID: try text("list_id"), restricted: try row["restricted"].decode(Bool.self),
      reason: try text("reason"), evidence: evidence, recordedAt: Microseconds(value: try integer("recorded_at")).date,
      recordedBy: CallerIdentity(actor: try text("recorded_by_actor"), role: try text("recorded_by_role"), requestID: try text("request_id")),
      preferenceChangeID: try text("preference_change_id"), personalDataSalt: try row["pii_salt"].decode(Data?.self).map { Array($0) },
      personalDataDigest: try text("pii_digest"), previousHash: try text("prev_hash"), hash: try text("hash"))
  }

  private static let confirmationColumns = """
    confirmation_id, kind, subject_id, token_hash, email_address, changes, form_name, created_at, expires_at, used_at, superseded_at,
    message_id, guardian, request_channel
    """

  private func confirmations(_ query: PostgresQuery) async throws -> [Confirmation] {
    var confirmations: [Confirmation] = []
    let rows = try await database.query(query)
    for try await (
      id, kind, subjectID, tokenHash, address, changes, formName, createdAt, expiresAt, usedAt, supersededAt, messageID, guardian, channel
    ) in rows.decode((String, String, String, String, String, String, String, Int64, Int64, Int64?, Int64?, String, String, String).self)
    {
      guard let kind = ConfirmationKind(rawValue: kind) else { throw LedgerCorruption(sequence: 0, column: "confirmations.kind") }
      confirmations.append(
        Confirmation(
          id: id, kind: kind, subjectID: subjectID, tokenHash: tokenHash, emailAddress: address,
          changes: try JSONDecoder().decode([PreferenceChangeItem].self, from: Data(changes.utf8)), formName: formName,
          createdAt: Microseconds(value: createdAt).date, expiresAt: Microseconds(value: expiresAt).date,
          usedAt: usedAt.map { Microseconds(value: $0).date }, supersededAt: supersededAt.map { Microseconds(value: $0).date },
          messageID: messageID, guardian: guardian, requestChannel: try Confirmation.requestChannel(stored: channel)))
    }
    return confirmations
  }
}

/// A commit made on a ledger head that is no longer the last: another writer appended first.
/// Nothing of the commit was written.
public struct LedgerHeadMoved: Error, Equatable {
  /// The sequence the commit was made after, and the one the ledger ends at.
  public var expected: UInt64
  public var found: UInt64

  public init(expected: UInt64, found: UInt64) {
    self.expected = expected
    self.found = found
  }
}
