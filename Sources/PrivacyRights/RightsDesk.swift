public import Foundation
public import PrivacyKit
import Crypto
import Synchronization

/// Settings of the subject-rights service beyond the common ones.
public struct RightsSettings: Sendable {
  /// Base of the verification links (`PUBLIC_BASE_URL`), without a trailing slash; nil sends the
  /// code alone.
  public var publicBaseURL: String?
  /// How long a closed request keeps the person's data (requester email, notes, rectified
  /// values) before only the proof of its handling remains (`RIGHTS_CLOSED_REQUEST_RETENTION_DAYS`).
  public var closedRequestRetention: TimeInterval

  public static let defaultClosedRequestRetentionDays = 1095

  public init(publicBaseURL: String? = nil, closedRequestRetentionDays: Int = Self.defaultClosedRequestRetentionDays) {
    self.publicBaseURL = publicBaseURL
    self.closedRequestRetention = TimeInterval(closedRequestRetentionDays) * 86_400
  }
}

/// What OpenRequest asks for, checked at the edge.
public struct RequestDraft: Sendable {
  public var subjectID: String
  public var right: Right
  public var origin: RequestOrigin
  public var requesterEmail: String
  public var channel: Channel?
  public var details: RequestDetails
  /// nil means now.
  public var receivedAt: Date?
  public var idempotencyKey: String
  /// The language mails about the request are written in.
  public var language: MailLanguage

  public init(
    subjectID: String, right: Right, origin: RequestOrigin, requesterEmail: String, channel: Channel?, details: RequestDetails,
    receivedAt: Date?, idempotencyKey: String, language: MailLanguage = .en
  ) {
    self.language = language
    self.subjectID = subjectID
    self.right = right
    self.origin = origin
    self.requesterEmail = requesterEmail
    self.channel = channel
    self.details = details
    self.receivedAt = receivedAt
    self.idempotencyKey = idempotencyKey
  }
}

/// An export bundle as CompleteRequest receives it.
public struct ArtifactUpload: Sendable {
  public var content: Data
  public var mediaType: String
  public var fileName: String

  public init(content: Data, mediaType: String, fileName: String) {
    self.content = content
    self.mediaType = mediaType
    self.fileName = fileName
  }
}

/// A recipient notification as CompleteRequest receives it.
public struct NotificationDraft: Sendable {
  public var recipientID: String
  public var summary: String
  /// nil means the completion time.
  public var notifiedAt: Date?

  public init(recipientID: String, summary: String, notifiedAt: Date?) {
    self.recipientID = recipientID
    self.summary = summary
    self.notifiedAt = notifiedAt
  }
}

/// The subject-rights service's core. Every write runs under one lock: it reads the current
/// state from the store, applies a pure domain rule, and the store commits the result in one
/// transaction; a write the rules or the store refuse changes nothing (a wrong verification
/// token, which counts as an attempt, is the one deliberate exception). Artifacts past their 30
/// days are purged, and closed requests past their retention scrubbed, before any call that
/// could see them.
///
/// Beside other replicas (PostgreSQL) each write also holds the store's writer lock
/// (`exclusively`), and `catchUp` learns when retention falls due for what they stored.
public final class RightsDesk: Sendable {
  private let store: any RightsStore
  private let settings: RightsSettings
  private let writes = AsyncLock()
  /// The earliest expiry of a stored artifact.
  private let nextArtifactExpiry: DueTime
  /// When the oldest closed request still holding personal data falls due for scrubbing.
  private let nextRequestScrub: DueTime
  /// The clock; tests move it.
  public let now: @Sendable () -> Date

  private init(
    store: any RightsStore, settings: RightsSettings, nextArtifactExpiry: Date?, earliestUnscrubbedClose: Date?,
    now: @escaping @Sendable () -> Date
  ) {
    self.store = store
    self.settings = settings
    self.nextArtifactExpiry = DueTime(nextArtifactExpiry)
    self.nextRequestScrub = DueTime(earliestUnscrubbedClose.map { $0.addingTimeInterval(settings.closedRequestRetention) })
    self.now = now
  }

  public static func open(
    store: any RightsStore, settings: RightsSettings, now: @escaping @Sendable () -> Date = { Date() }
  ) async throws -> RightsDesk {
    let desk = RightsDesk(
      store: store, settings: settings, nextArtifactExpiry: try await store.nextArtifactExpiry(),
      earliestUnscrubbedClose: try await store.earliestUnscrubbedClose(), now: now)
    try await desk.applyRetention()
    return desk
  }

  // MARK: Write path

  /// Runs `body` as the only writer: under the desk's lock and the store's writer lock.
  private func serialized<T: Sendable>(_ body: () async throws -> T) async throws -> T {
    try await writes.withLock { try await store.exclusively(body) }
  }

  /// Takes in when retention falls due for what other replicas stored (`ReplicaFollower` calls
  /// this on each of their notifications and periodically).
  public func catchUp() async throws {
    let artifactExpiry = try await store.nextArtifactExpiry()
    let earliestClose = try await store.earliestUnscrubbedClose()
    nextArtifactExpiry.lower(to: artifactExpiry)
    nextRequestScrub.lower(to: earliestClose.map { $0.addingTimeInterval(settings.closedRequestRetention) })
  }

  /// Runs one write under the lock: `body` checks rules and fills the commit; the store commits.
  private func write<T: Sendable>(_ body: (inout RightsCommit, Date) async throws -> T) async throws -> T {
    try await serialized {
      try await applyRetentionLocked()
      let now = self.now().microsecondPrecision
      var commit = RightsCommit()
      let result = try await body(&commit, now)
      guard !commit.isEmpty else { return result }
      try await store.commit(commit)
      nextArtifactExpiry.lower(to: commit.requests.compactMap { $0.artifact?.purged == false ? $0.artifact?.expiresAt : nil }.min())
      nextRequestScrub.lower(
        to: commit.requests.compactMap { $0.personalDataScrubbedAt == nil ? $0.closedAt : nil }.min()?
          .addingTimeInterval(settings.closedRequestRetention))
      return result
    }
  }

  /// A write on one request: loads it (NOT_FOUND when unknown), lets `body` change it, stores it
  /// when it changed.
  private func modify<T: Sendable>(
    _ requestID: String, _ body: (inout SubjectRequest, inout RightsCommit, Date) async throws -> T
  ) async throws -> T {
    try await write { commit, now in
      guard var request = try await store.request(id: requestID) else { throw RightsError.requestNotFound(requestID) }
      let before = request
      let result = try await body(&request, &commit, now)
      if request != before { commit.requests.append(request) }
      return result
    }
  }

  private func loadRequest(_ requestID: String) async throws -> SubjectRequest {
    guard let request = try await store.request(id: requestID) else { throw RightsError.requestNotFound(requestID) }
    return request
  }

  // MARK: Retention of artifacts and closed requests

  /// Purges artifacts past their expiry and scrubs closed requests past their retention, if any
  /// is due; cheap when none is.
  public func applyRetention() async throws {
    let now = self.now()
    guard nextArtifactExpiry.isDue(at: now) || nextRequestScrub.isDue(at: now) else { return }
    try await serialized { try await applyRetentionLocked() }
  }

  private func applyRetentionLocked() async throws {
    let now = self.now().microsecondPrecision
    let purge = nextArtifactExpiry.isDue(at: now), scrub = nextRequestScrub.isDue(at: now)
    guard purge || scrub else { return }
    var commit = RightsCommit()
    var changed: [String: SubjectRequest] = [:]
    if purge {
      for requestID in try await store.requestIDsWithArtifactExpired(by: now) {
        guard var request = try await store.request(id: requestID) else { continue }
        request.purgeArtifact(at: now)
        changed[requestID] = request
        commit.purgedArtifacts.append(requestID)
      }
    }
    if scrub {
      for requestID in try await store.requestIDsClosedUnscrubbed(by: now.addingTimeInterval(-settings.closedRequestRetention)) {
        var request: SubjectRequest
        if let purged = changed[requestID] {
          request = purged
        } else if let stored = try await store.request(id: requestID) {
          request = stored
        } else {
          continue
        }
        Self.forget(&request, into: &commit, now: now)
        changed[requestID] = request
      }
    }
    commit.requests = Array(changed.values)
    if !commit.isEmpty { try await store.commit(commit) }
    nextArtifactExpiry.set(try await store.nextArtifactExpiry())
    nextRequestScrub.set(try await store.earliestUnscrubbedClose()?.addingTimeInterval(settings.closedRequestRetention))
  }

  // MARK: Requests

  /// Opens a request, or returns the one opened first with the same idempotency key.
  public func openRequest(_ draft: RequestDraft, caller: CallerIdentity) async throws -> (request: SubjectRequest, created: Bool) {
    try await write { commit, now in
      if !draft.idempotencyKey.isEmpty, let existing = try await store.request(idempotencyKey: draft.idempotencyKey) {
        return (existing, false)
      }
      var request = SubjectRequest(
        id: UUID().uuidString.lowercased(), subjectID: draft.subjectID, right: draft.right, origin: draft.origin,
        requesterEmail: draft.requesterEmail, channel: draft.channel, details: draft.details,
        receivedAt: draft.receivedAt ?? now, openedBy: caller.actor, idempotencyKey: draft.idempotencyKey, now: now)
      request.language = draft.language
      commit.requests.append(request)
      return (request, true)
    }
  }

  public func request(id: String) async throws -> SubjectRequest {
    try await applyRetention()
    return try await loadRequest(id)
  }

  public func requests(_ query: RequestQuery, after cursor: RequestCursor?, limit: Int) async throws -> [SubjectRequest] {
    try await applyRetention()
    return try await store.requests(query, after: cursor, limit: limit)
  }

  /// Issues a verification token and queues the message carrying it.
  public func startVerification(
    requestID: String, preferenceURL: String = "", caller: CallerIdentity
  ) async throws -> (request: SubjectRequest, messageID: String, expiresAt: Date) {
    let token = SecureToken.generate()
    return try await modify(requestID) { request, commit, now in
      let expiresAt = try request.startVerification(tokenHash: SecureToken.hash(token), now: now)
      let message = OutboxComposer.verification(request, token: token, link: verificationLink(request.id, token), expiresAt: expiresAt, now: now)
        .withPreferenceFooter(preferenceURL)
      commit.outbox.append(message)
      return (request, message.id, expiresAt)
    }
  }

  /// A one-time download link for the bundle of a completed ACCESS or PORTABILITY request, kept
  /// on its artifact as a hash; nil for other requests.
  private func downloadLink(for request: inout SubjectRequest, now: Date) -> OutboxComposer.DownloadLink? {
    guard [.access, .portability].contains(request.right), var artifact = request.artifact else { return nil }
    let token = SecureToken.generate()
    let expiresAt = min(now.addingTimeInterval(ArtifactDownload.lifetime), artifact.expiresAt).microsecondPrecision
    artifact.download = ArtifactDownload(tokenHash: SecureToken.hash(token), expiresAt: expiresAt)
    request.artifact = artifact
    let link = settings.publicBaseURL.map { "\($0)/requests/download?request_id=\(request.id)&token=\(token)" } ?? ""
    return OutboxComposer.DownloadLink(token: token, link: link, expiresAt: expiresAt)
  }

  private func verificationLink(_ requestID: String, _ token: String) -> String {
    guard let base = settings.publicBaseURL else { return "" }
    return "\(base)/requests/verify?request_id=\(requestID)&token=\(token)"
  }

  /// Checks the requester's token. A wrong token is stored as a failed attempt before the error
  /// is returned.
  public func confirmVerification(requestID: String, token: String, caller: CallerIdentity) async throws -> SubjectRequest {
    let hash = SecureToken.hash(token)
    let (request, outcome) = try await modify(requestID) { request, _, now in
      let outcome = request.confirmVerification(tokenHash: hash, now: now, by: caller.actor)
      return (request, outcome)
    }
    if case .refused(let error, _) = outcome { throw error }
    return request
  }

  public func verifyManually(requestID: String, note: String, caller: CallerIdentity) async throws -> SubjectRequest {
    try await modify(requestID) { request, _, now in
      try request.verifyManually(note: note, now: now, by: caller.actor)
      return request
    }
  }

  public func identifySubject(requestID: String, subjectID: String, caller: CallerIdentity) async throws -> SubjectRequest {
    try await modify(requestID) { request, _, now in
      try request.identify(subjectID: subjectID, now: now)
      return request
    }
  }

  public func extendDeadline(
    requestID: String, months: Int, reason: String, preferenceURL: String = "", caller: CallerIdentity
  ) async throws -> SubjectRequest {
    try await modify(requestID) { request, commit, now in
      try request.extendDeadline(months: months, reason: reason, now: now, by: caller.actor)
      if !request.requesterEmail.isEmpty {
        commit.outbox.append(OutboxComposer.deadlineExtended(request, reason: reason, now: now).withPreferenceFooter(preferenceURL))
      }
      return request
    }
  }

  public func startProcessing(requestID: String, caller: CallerIdentity) async throws -> SubjectRequest {
    try await modify(requestID) { request, _, now in
      _ = try request.startProcessing(now: now)
      return request
    }
  }

  public func recordStep(
    requestID: String, step: String, status: StepStatus, detail: String, error: String, caller: CallerIdentity
  ) async throws -> Step {
    try await modify(requestID) { request, _, now in
      try request.recordStep(name: step, status: status, detail: detail, error: error, now: now).step
    }
  }

  /// Completes a request with its outcome, artifact and the recipients told. Completing an
  /// ERASURE purges the artifacts of the subject's other requests and scrubs the personal data
  /// of its closed requests, this one included, once the completion notice is queued (the notice
  /// keeps the address until the mailer acknowledges it).
  public func completeRequest(
    requestID: String, outcome: String, artifact upload: ArtifactUpload?, notifications drafts: [NotificationDraft],
    preferenceURL: String = "", caller: CallerIdentity
  ) async throws -> SubjectRequest {
    try await modify(requestID) { request, commit, now in
      var notifications: [RecipientNotification] = []
      for draft in drafts {
        guard let recipient = try await store.recipient(id: draft.recipientID) else {
          throw RightsError.recipientNotFound(draft.recipientID)
        }
        notifications.append(
          RecipientNotification(
            recipientID: recipient.id, recipientName: recipient.name, summary: draft.summary, notifiedAt: draft.notifiedAt ?? now))
      }
      let artifact = upload.map { upload in
        ArtifactInfo(
          mediaType: upload.mediaType, fileName: upload.fileName, sizeBytes: upload.content.count,
          sha256: SHA256.hash(data: upload.content).hex, createdAt: now, expiresAt: now.addingTimeInterval(ArtifactInfo.retention).microsecondPrecision)
      }
      try request.complete(outcome: outcome, artifact: artifact, notifications: notifications, now: now)
      if let upload { commit.artifactContents[request.id] = upload.content }
      if !request.requesterEmail.isEmpty {
        let download = downloadLink(for: &request, now: now)
        commit.outbox.append(OutboxComposer.completed(request, download: download, now: now).withPreferenceFooter(preferenceURL))
      }
      if request.right == .erasure && !request.subjectID.isEmpty {
        try await forgetErasedSubject(of: &request, into: &commit, now: now)
      }
      return request
    }
  }

  /// After an erasure: the subject's other requests lose their stored artifacts, and every closed
  /// request of the subject (this one too) and its sent messages lose the person's data.
  private func forgetErasedSubject(of request: inout SubjectRequest, into commit: inout RightsCommit, now: Date) async throws {
    var query = RequestQuery()
    query.subjectID = request.subjectID
    var cursor: RequestCursor?
    while true {
      let page = try await store.requests(query, after: cursor, limit: 500)
      for var other in page where other.id != request.id {
        let before = other
        Self.forget(&other, into: &commit, now: now)
        if other != before { commit.requests.append(other) }
      }
      guard page.count == 500, let last = page.last else { break }
      cursor = RequestCursor(dueAt: Microseconds(last.dueAt), requestID: last.id)
    }
    Self.forget(&request, into: &commit, now: now)
  }

  /// Takes the person's data out of a closed request (an open one is left alone): its export
  /// bundle if still kept, its personal fields, and the addresses of its sent messages.
  private static func forget(_ request: inout SubjectRequest, into commit: inout RightsCommit, now: Date) {
    guard request.status.isClosed else { return }
    if request.artifact?.purged == false {
      request.purgeArtifact(at: now)
      commit.purgedArtifacts.append(request.id)
    }
    request.scrubPersonalData(at: now)
    commit.scrubbedOutboxRequests.append(request.id)
  }

  public func rejectRequest(
    requestID: String, reason: String, grounds: RejectionGrounds?, preferenceURL: String = "", caller: CallerIdentity
  ) async throws -> SubjectRequest {
    try await modify(requestID) { request, commit, now in
      try request.reject(reason: reason, grounds: grounds, now: now, by: caller.actor)
      if !request.requesterEmail.isEmpty {
        commit.outbox.append(OutboxComposer.rejected(request, reason: reason, now: now).withPreferenceFooter(preferenceURL))
      }
      return request
    }
  }

  /// The artifact of a request with its content. With `downloadToken`, only through the
  /// person's one-time download link, which the fetch uses up (committed before the content is
  /// read: a link works once even if the answer is lost on its way).
  public func artifact(requestID: String, downloadToken: String? = nil) async throws -> (info: ArtifactInfo, content: Data) {
    try await applyRetention()
    func present(_ request: SubjectRequest) throws -> ArtifactInfo {
      guard let info = request.artifact else { throw RightsError.artifactNotFound(requestID: requestID) }
      if let purgedAt = info.purgedAt { throw RightsError.artifactPurged(requestID: requestID, at: purgedAt) }
      return info
    }
    let info: ArtifactInfo
    if let downloadToken {
      info = try await modify(requestID) { request, _, now in
        var info = try present(request)
        guard var download = info.download else { throw RightsError.downloadTokenMismatch }
        try download.use(token: downloadToken, now: now)
        info.download = download
        request.artifact = info
        return info
      }
    } else {
      info = try present(try await loadRequest(requestID))
    }
    guard let content = try await store.artifactContent(requestID: requestID) else {
      throw RightsError.artifactNotFound(requestID: requestID)
    }
    return (info, content)
  }

  // MARK: Recipients

  /// Creates or changes a recipient. A webhook secret is made when a `notify.url` is first set or
  /// `rotateWebhookSecret` asks, and answered then only; removing the URL removes the secret.
  public func upsertRecipient(
    id: String, name: String, contact: String, purposeIDs: [String], notes: String, transfer: ThirdCountryTransfer? = nil,
    notifyEmail: String = "", notifyURL: String = "", rotateWebhookSecret: Bool = false, caller: CallerIdentity
  ) async throws -> (recipient: Recipient, created: Bool, webhookSecret: String?) {
    try await write { commit, now in
      let existing = try await store.recipient(id: id)
      var notify = NoticeChannels(email: notifyEmail, url: notifyURL, webhookSecret: existing?.notify.webhookSecret ?? "")
      var newSecret: String?
      if notifyURL.isEmpty {
        notify.webhookSecret = ""
      } else if notify.webhookSecret.isEmpty || rotateWebhookSecret {
        newSecret = SecureToken.generate()
        notify.webhookSecret = newSecret!
      }
      let recipient = Recipient(
        id: id, name: name, contact: contact, purposeIDs: purposeIDs, notes: notes, transfer: transfer, notify: notify,
        createdAt: existing?.createdAt ?? now, updatedAt: now)
      if let existing, existing.sameContent(as: recipient) { return (existing, false, nil) }
      commit.recipients.append(recipient)
      return (recipient, existing == nil, newSecret)
    }
  }

  /// Queues the art 19 notices of an IN_PROGRESS request to each recipient named, one per channel
  /// it has; a recipient already told about this request gets nothing new. Answers where every
  /// delivery stands, in the order asked (which is how a caller waits for them).
  public func notifyRecipients(requestID: String, notices: [RecipientNoticeDraft]) async throws -> [RecipientDelivery] {
    try await write { commit, now in
      guard let request = try await store.request(id: requestID) else { throw RightsError.requestNotFound(requestID) }
      let queued = try await store.recipientNotices(requestID: requestID)
      var deliveries: [RecipientDelivery] = []
      for notice in notices {
        guard let recipient = try await store.recipient(id: notice.recipientID) else { throw RightsError.recipientNotFound(notice.recipientID) }
        let earlier = queued.filter { $0.recipientID == recipient.id }
        if !earlier.isEmpty {
          deliveries += earlier.map { RecipientDelivery(recipientID: recipient.id, recipientName: recipient.name, channel: $0.webhookURL.isEmpty ? .email : .webhook, message: $0) }
          continue
        }
        guard recipient.notify.isEmpty || request.status == .inProgress else {
          throw RightsError.illegalTransition(status: request.status, action: "notify the recipients of")
        }
        if recipient.notify.isEmpty {
          deliveries.append(RecipientDelivery(recipientID: recipient.id, recipientName: recipient.name, channel: .manual, message: nil))
        }
        if !recipient.notify.email.isEmpty {
          let message = RecipientNoticeComposer.email(request, recipient: recipient, summary: notice.summary, fields: notice.fields, now: now)
          commit.outbox.append(message)
          deliveries.append(RecipientDelivery(recipientID: recipient.id, recipientName: recipient.name, channel: .email, message: message))
        }
        if !recipient.notify.url.isEmpty {
          let message = RecipientNoticeComposer.webhook(request, recipient: recipient, summary: notice.summary, fields: notice.fields, now: now)
          commit.outbox.append(message)
          deliveries.append(RecipientDelivery(recipientID: recipient.id, recipientName: recipient.name, channel: .webhook, message: message))
        }
      }
      return deliveries
    }
  }

  public func recipients(purposeID: String?, after cursor: String?, limit: Int) async throws -> [Recipient] {
    try await store.recipients(purposeID: purposeID, after: cursor, limit: limit)
  }

  // MARK: Retention

  public func upsertRetentionPolicy(
    name: String, inactivityDays: Int, scope: RetentionScope, description: String, disabled: Bool, caller: CallerIdentity
  ) async throws -> (policy: RetentionPolicy, created: Bool) {
    try await write { commit, now in
      let existing = try await store.policy(name: name)
      let policy = RetentionPolicy(
        name: name, inactivityDays: inactivityDays, scope: scope, description: description, disabled: disabled,
        createdAt: existing?.createdAt ?? now, updatedAt: now)
      if let existing, existing.sameContent(as: policy) { return (existing, false) }
      commit.policies.append(policy)
      return (policy, existing == nil)
    }
  }

  public func retentionPolicies(after cursor: String?, limit: Int) async throws -> [RetentionPolicy] {
    try await store.policies(after: cursor, limit: limit)
  }

  /// Keeps the latest engagement: an older one than stored changes nothing.
  public func recordEngagement(subjectID: String, at: Date?, caller: CallerIdentity) async throws -> (last: Date, updated: Bool) {
    try await write { commit, now in
      let at = (at ?? now).microsecondPrecision
      if let stored = try await store.lastEngagement(subjectID: subjectID), stored >= at { return (stored, false) }
      commit.engagements = [(subjectID, at)]
      return (at, true)
    }
  }

  /// Keeps many subjects' engagements in one commit (a bulk load); like `recordEngagement`, a
  /// subject's stored engagement only moves forward.
  public func recordEngagements(_ engagements: [(subjectID: String, at: Date)], caller: CallerIdentity) async throws {
    try await write { commit, _ in
      commit.engagements = engagements.map { ($0.subjectID, $0.at.microsecondPrecision) }
    }
  }

  public func dueForRetention(now: Date, after cursor: RetentionCursor?, limit: Int) async throws -> [RetentionDue] {
    try await store.dueForRetention(now: now, after: cursor, limit: limit)
  }

  public func engagements(after: Date?, until: Date, cursor: EngagementCursor?, limit: Int) async throws -> [(subjectID: String, at: Date)] {
    try await store.engagements(after: after, until: until, cursor: cursor, limit: limit)
  }

  // MARK: Outbox

  public func outbox(after position: Int64, filter: OutboxFilter, limit: Int) async throws -> [OutboxMessage] {
    try await store.outbox(after: position, filter: filter, limit: limit)
  }

  public func ackOutbox(ids: [String]) async throws -> Int {
    try await writes.withLock { try await store.ackOutbox(ids: ids, at: now()) }
  }

  public func leaseOutbox(_ lease: OutboxLease) async throws -> [OutboxMessage] {
    try await writes.withLock {
      let now = now()
      return try await store.leaseOutbox(limit: lease.maxMessages, until: lease.end(from: now), now: now)
    }
  }

  public func reportOutboxFailure(_ report: OutboxFailureReport) async throws -> OutboxMessage {
    try await writes.withLock { try await store.reportOutboxFailure(report, at: now()) }
  }
}

/// When the next piece of retention work falls due, so that checking costs nothing while none is.
final class DueTime: Sendable {
  private let due: Mutex<Date?>

  init(_ due: Date?) {
    self.due = Mutex(due)
  }

  func isDue(at now: Date) -> Bool { due.withLock { $0.map { $0 <= now } ?? false } }

  /// Brings the due time forward to `date` if that is earlier.
  func lower(to date: Date?) {
    guard let date else { return }
    due.withLock { $0 = min($0 ?? date, date) }
  }

  /// Replaces the due time (after the work was done and the store asked what comes next).
  func set(_ date: Date?) { due.withLock { $0 = date } }
}
