public import Foundation
public import Logging
import PrivacyBlocklist
import PrivacyConsent
import PrivacyGateway
import PrivacyKit
import PrivacyRights
import PrivacyVault

/// Fills the consent, vault, subject-rights and blocklist files of a data directory for
/// `subjects` realistic subjects, for figures at the sizes real users have (`privacy-suite seed`).
/// It writes through the services' own cores (`ConsentLedger`, `Vault`, `RightsDesk`,
/// `Blocklist`) on their SQLite files, so chains, data keys, blind indexes, k-anonymity counts
/// and keyed hashes are exactly what the services would have written; consent and the vault skip
/// the disk flush per commit (a failed seed is simply run again on a fresh directory).
///
/// Subject `seed-<i>` (i from 0) holds, by rule, so a check can predict every value:
/// - in the vault, 7 to 9 values: `email` person.<i>@example.com, `name`, `phone` (even i),
///   `iban` (i divisible by 3), and the NONE fields `zip` 10000 + i % 900, `birth_year`
///   1950 + i % 50, `gender`, `segment` (gold, silver, bronze by i % 3) and `purchase_total`;
///   `zip`, `birth_year` and `gender` are quasi-identifiers;
/// - in the consent ledger, decisions on four purposes (`Seeder.expectedDecision`), with a
///   withdrawal after a grant for some, so the ledger holds history as well as state;
/// - every 100th subject (`requestEvery`) has an access request opened by email, and every 200th
///   an erasure request instead, verified by hand;
/// - every subject has a last engagement (`engagementDaysAgo`): within the last year, except one
///   in 100 (`isInactive`) last seen 1,000 days ago, so the seeded retention policy (no engagement
///   for two years, every subject) makes 1 % of them due;
/// - the blocklist holds the email of one erased person per 100 subjects,
///   `erased.<j>@example.com` for j from 0 (people no longer in the other files);
/// - the gateway's consent reactor has followed the whole ledger (the seeded history needs no
///   consequences), so a gateway started on the directory reacts only to what happens next.
public enum Seeder {
  public struct Report: Sendable {
    public var records: Int
    public var ledgerEvents: Int
    public var requests: Int
    public var blocklistEntries: Int
    public var vaultSeconds: Double
    public var consentSeconds: Double
    public var rightsSeconds: Double
    public var blocklistSeconds: Double
  }

  /// Subjects per consent commit, records per vault commit, identifiers per blocklist commit.
  static let batchSize = 1000
  /// One subject in this many has a rights request, and one erased person per this many
  /// subjects is on the blocklist.
  static let requestEvery = 100
  static let purposes = ["newsletter", "analytics", "partners", "crm"]
  private static let caller = CallerIdentity(actor: "seed", role: "system", requestID: "seed")

  static func subjectID(_ index: Int) -> String { "seed-\(index)" }

  /// The retention policy the seed keeps: no engagement for two years, every subject.
  static let retentionPolicy = (name: "inactive-two-years", inactivityDays: 730)

  /// Whether subject `index` last engaged long enough ago to be due under the retention policy
  /// (one in 100, none of them with a seeded request).
  static func isInactive(_ index: Int) -> Bool { index % requestEvery == requestEvery / 2 }

  /// How many days before the seed subject `index` last engaged.
  static func engagementDaysAgo(_ index: Int) -> Int { isInactive(index) ? 1000 : index % 365 }

  /// What subject `index` last decided for `purpose` ("granted", "denied" or "withdrawn").
  static func expectedDecision(_ index: Int, purpose: String) -> String {
    switch purpose {
    case "newsletter": index % 3 == 0 ? "denied" : index % 7 == 0 ? "withdrawn" : "granted"
    case "analytics": index % 2 == 0 ? "granted" : "denied"
    case "partners": index % 10 == 0 ? "granted" : "denied"
    default: "granted"
    }
  }

  /// The vault values of subject `index` (field -> value).
  static func vaultValues(_ index: Int) -> [String: String] {
    var values = [
      "email": "person.\(index)@example.com",
      "name": "Person \(index)",
      "zip": "\(10000 + index % 900)",
      "birth_year": "\(1950 + index % 50)",
      "gender": ["f", "m", "d"][index % 3],
      "segment": ["gold", "silver", "bronze"][index % 3],
      "purchase_total": "\(index % 1000)",
    ]
    if index % 2 == 0 { values["phone"] = "+4930" + String(format: "%09d", index) }
    if index % 3 == 0 { values["iban"] = "DE8937040044" + String(format: "%010d", index) }
    return values
  }

  /// The files `run` writes under the data directory.
  public static let files = [
    "consent-service.sqlite", "vault-service.sqlite", "subject-rights-service.sqlite", "blocklist-service.sqlite", "gateway.sqlite",
  ]

  /// Seeds subjects `0..<subjects` into the five services' files under `directory`, all at once.
  /// - Parameters:
  ///   - masterKeyFile: the vault's keyring file (`VAULT_MASTER_KEY_FILE`).
  ///   - pepperFile: the blocklist's pepper file (`BLOCKLIST_PEPPER_FILE`).
  public static func run(subjects: Int, directory: URL, masterKeyFile: String, pepperFile: String, logger: Logger) async throws -> Report {
    let keyring = try Keyring(environment: EnvironmentReader(["VAULT_MASTER_KEY_FILE": masterKeyFile]))
    let peppers = try BlocklistConfiguration.keyring(EnvironmentReader(["BLOCKLIST_PEPPER_FILE": pepperFile]))
    func path(_ index: Int) -> String { directory.appendingPathComponent(files[index]).path }
    async let consent = timed { try await seedConsent(subjects: subjects, path: path(0), logger: logger) }
    async let vault = timed { try await seedVault(subjects: subjects, path: path(1), keyring: keyring, logger: logger) }
    async let rights = timed { try await seedRights(subjects: subjects, path: path(2), logger: logger) }
    async let blocklist = timed { try await seedBlocklist(subjects: subjects, path: path(3), keyring: peppers, logger: logger) }
    let (events, consentSeconds) = try await consent
    // Bulk decisions only: the ledger's head is its event count.
    try await SQLiteReactorStore.consentReactorFollowed(through: UInt64(events), databasePath: path(4))
    let (records, vaultSeconds) = try await vault
    let (requests, rightsSeconds) = try await rights
    let (entries, blocklistSeconds) = try await blocklist
    return Report(
      records: records, ledgerEvents: events, requests: requests, blocklistEntries: entries, vaultSeconds: vaultSeconds,
      consentSeconds: consentSeconds, rightsSeconds: rightsSeconds, blocklistSeconds: blocklistSeconds)
  }

  /// Seeds only the consent ledger (`files[0]`): what a consent replica's start-up benchmark
  /// needs, at sizes where seeding the vault would take hours. Returns the events written and the
  /// seconds it took.
  public static func runConsent(subjects: Int, directory: URL, logger: Logger) async throws -> (events: Int, seconds: Double) {
    try await timed { try await seedConsent(subjects: subjects, path: directory.appendingPathComponent(files[0]).path, logger: logger) }
  }

  private static func timed<T: Sendable>(_ body: () async throws -> T) async rethrows -> (T, Double) {
    let start = ContinuousClock.now
    let result = try await body()
    let elapsed = ContinuousClock.now - start
    return (result, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
  }

  private static func seedConsent(subjects: Int, path: String, logger: Logger) async throws -> Int {
    let store = try SQLiteConsentStore(path: path, logger: logger, durable: false)
    let ledger = try await ConsentLedger.open(
      store: store, settings: ConsentSettings(publicBaseURL: "http://localhost", confirmationLifetime: 86_400))
    let categories: [String: (PurposeCategory, LegalBasis)] = [
      "newsletter": (.emailMarketing, .consent), "analytics": (.engagementTracking, .consent),
      "partners": (.thirdPartySharing, .consent), "crm": (.dataStorage, .contract),
    ]
    for purpose in purposes {
      let (category, basis) = categories[purpose]!
      _ = try await ledger.upsertPurpose(
        PurposeDraft(
          id: purpose, title: purpose.capitalized, description: "Seeded purpose \(purpose)", legalBasis: basis, category: category,
          retentionDays: 730, noticeVersion: "v1", noticeText: "Notice for \(purpose).", vaultFields: []),
        caller: caller)
    }
    let evidence = Evidence(channel: .import, formName: "seed", actor: "seed", actorKind: .system, capturedAt: Date())
    var events = 0
    for start in stride(from: 0, to: subjects, by: batchSize) {
      let indices = start..<min(start + batchSize, subjects)
      for purpose in purposes {
        // First decisions: a grant that is later withdrawn is granted first.
        for decision in [Decision.granted, .denied] {
          let chosen = indices.filter { index in
            let last = expectedDecision(index, purpose: purpose)
            return decision == .granted ? last != "denied" : last == "denied"
          }
          events += try await bulk(ledger, chosen, purpose, decision, evidence)
        }
        let withdrawn = indices.filter { expectedDecision($0, purpose: purpose) == "withdrawn" }
        events += try await bulk(ledger, withdrawn, purpose, .withdrawn, evidence)
      }
    }
    return events
  }

  private static func bulk(
    _ ledger: ConsentLedger, _ indices: [Int], _ purpose: String, _ decision: Decision, _ evidence: Evidence
  ) async throws -> Int {
    guard !indices.isEmpty else { return 0 }
    return try await ledger.bulkUpdate(
      .subjects(indices.map(subjectID)), purposeID: purpose, decision: decision, legalBasis: nil, evidence: evidence,
      reason: "seed", caller: caller
    ).count
  }

  private static func seedVault(subjects: Int, path: String, keyring: Keyring, logger: Logger) async throws -> Int {
    let store = try SQLiteVaultStore(path: path, logger: logger, durable: false)
    let vault = try await Vault.open(store: store, settings: VaultSettings(keyring: keyring), logger: logger)
    let fields: [FieldDraft] = [
      FieldDraft(name: "email", classification: .personal, mask: .email, searchable: true, tags: ["email"]),
      FieldDraft(name: "name", classification: .personal),
      FieldDraft(name: "phone", classification: .personal, mask: .last4, searchable: true, tags: ["phone"]),
      FieldDraft(name: "iban", classification: .sensitive, mask: .last4, tags: ["billing"]),
      FieldDraft(name: "zip", classification: Classification.none, tags: ["quasi_identifier"], generalization: .keepPrefix(3)),
      FieldDraft(name: "birth_year", classification: Classification.none, tags: ["quasi_identifier"], generalization: .bucketWidth(10)),
      FieldDraft(name: "gender", classification: Classification.none, tags: ["quasi_identifier"]),
      FieldDraft(name: "segment", classification: Classification.none, searchable: true),
      FieldDraft(name: "purchase_total", classification: Classification.none),
    ]
    for field in fields { _ = try await vault.upsertField(field, caller: caller) }
    let source = ValueSource(channel: .import, formName: "seed", actorKind: .system, capturedAt: Date())
    for start in stride(from: 0, to: subjects, by: batchSize) {
      let batch = (start..<min(start + batchSize, subjects)).map { (subjectID: subjectID($0), values: vaultValues($0)) }
      _ = try await vault.putRecords(batch, source: source, caller: caller)
    }
    await store.discardOldPageVersions()
    return subjects
  }

  /// An access request for every `requestEvery`th subject, an erasure request verified by hand
  /// for every second of those, one commit each, as the service makes them; the retention policy
  /// and every subject's last engagement, in batches.
  private static func seedRights(subjects: Int, path: String, logger: Logger) async throws -> Int {
    let desk = try await RightsDesk.open(store: SQLiteRightsStore(path: path, logger: logger), settings: RightsSettings())
    _ = try await desk.upsertRetentionPolicy(
      name: retentionPolicy.name, inactivityDays: retentionPolicy.inactivityDays, scope: .all,
      description: "Seeded: subjects without engagement for two years", disabled: false, caller: caller)
    let now = Date()
    for start in stride(from: 0, to: subjects, by: batchSize) {
      let engagements = (start..<min(start + batchSize, subjects)).map {
        (subjectID: subjectID($0), at: now.addingTimeInterval(-Double(engagementDaysAgo($0)) * 86_400))
      }
      try await desk.recordEngagements(engagements, caller: caller)
    }
    var opened = 0
    for index in stride(from: 0, to: subjects, by: requestEvery) {
      let erasure = index % (2 * requestEvery) == 0
      let draft = RequestDraft(
        subjectID: subjectID(index), right: erasure ? .erasure : .access, origin: .dataSubject,
        requesterEmail: "person.\(index)@example.com", channel: .email, details: RequestDetails(), receivedAt: nil,
        idempotencyKey: "seed-\(index)")
      let request = try await desk.openRequest(draft, caller: caller).request
      if erasure { _ = try await desk.verifyManually(requestID: request.id, note: "seeded", caller: caller) }
      opened += 1
    }
    return opened
  }

  /// One erased person's email per `requestEvery` subjects, in batches.
  private static func seedBlocklist(subjects: Int, path: String, keyring: PepperKeyring, logger: Logger) async throws -> Int {
    let blocklist = try await Blocklist.open(
      store: SQLiteBlocklistStore(path: path, logger: logger), keyring: keyring, normalizer: Normalizer(defaultCountryCode: nil),
      logger: logger)
    let people = (subjects + requestEvery - 1) / requestEvery
    var added = 0
    for start in stride(from: 0, to: people, by: batchSize) {
      let identifiers = try blocklist.normalize((start..<min(start + batchSize, people)).map { (.email, "erased.\($0)@example.com") })
      added += try await blocklist.add(identifiers, reason: "seeded erasure", requestID: "seed", caller: caller).added
    }
    return added
  }
}
