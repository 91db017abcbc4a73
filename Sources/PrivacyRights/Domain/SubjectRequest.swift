public import Foundation
public import PrivacyKit

/// What the requester asked for beyond the right itself.
public struct RequestDetails: Sendable, Equatable, Codable {
  /// For RECTIFICATION: vault field name -> corrected value (empty clears the field).
  public var rectification: [String: String]?
  /// For OBJECTION: what the person objects to.
  public var objection: Objection?
  /// Free text from the requester or staff; may hold personal data.
  public var note: String

  public struct Objection: Sendable, Equatable, Codable {
    public var purposeIDs: [String]
    public var directMarketing: Bool

    public init(purposeIDs: [String], directMarketing: Bool) {
      self.purposeIDs = purposeIDs
      self.directMarketing = directMarketing
    }
  }

  public init(rectification: [String: String]? = nil, objection: Objection? = nil, note: String = "") {
    self.rectification = rectification
    self.objection = objection
    self.note = note
  }

  /// Refuses details that do not fit the right (OpenRequest's rules).
  public func check(for right: Right) throws(InvalidArgument) {
    if let rectification {
      guard right == .rectification else { throw InvalidArgument("details.rectification is only allowed on RECTIFICATION requests") }
      guard !rectification.isEmpty else { throw InvalidArgument("details.rectification.changes must name at least one field") }
    } else if right == .rectification {
      throw InvalidArgument("details.rectification is required on RECTIFICATION requests")
    }
    if let objection {
      guard right == .objection else { throw InvalidArgument("details.objection is only allowed on OBJECTION requests") }
      guard !objection.purposeIDs.isEmpty || objection.directMarketing else {
        throw InvalidArgument("details.objection must name a purpose or object to direct marketing")
      }
    } else if right == .objection {
      throw InvalidArgument("details.objection is required on OBJECTION requests")
    }
  }
}

/// One extension of a request's deadline.
public struct DeadlineExtension: Sendable, Equatable, Codable {
  public var months: Int
  public var reason: String
  public var extendedAt: Date
  public var extendedBy: String
  public var dueAt: Date
}

/// One verification token issued for a request: only its SHA-256 is kept.
public struct VerificationToken: Sendable, Equatable, Codable {
  public var hash: String
  public var issuedAt: Date
  public var expiresAt: Date
  public var usedAt: Date?
  public var supersededAt: Date?
}

/// The identity-verification state of a request.
public struct VerificationState: Sendable, Equatable, Codable {
  /// Wrong tokens allowed before verification locks.
  public static let maximumAttempts = 5
  /// How long a token works.
  public static let tokenLifetime: TimeInterval = 72 * 3600

  public var method: VerificationMethod?
  public var attemptsLeft = VerificationState.maximumAttempts
  public var locked = false
  /// Every token issued, oldest first; the last one is current unless superseded or used.
  public var tokens: [VerificationToken] = []
  public var verifiedAt: Date?
  public var verifiedBy = ""
  public var note = ""

  public init() {}

  public var currentToken: VerificationToken? { tokens.last }
}

/// One step of the workflow executing a request, as the gateway records it.
public struct Step: Sendable, Equatable, Codable {
  public var name: String
  public var sequence: Int
  public var status: StepStatus
  public var detail: String
  public var attempts: Int
  public var startedAt: Date?
  public var finishedAt: Date?
  public var lastError: String
  public var updatedAt: Date
}

/// What is known of a request's artifact without its content.
public struct ArtifactInfo: Sendable, Equatable, Codable {
  /// How long an artifact is kept after completion.
  public static let retention: TimeInterval = 30 * 86_400
  /// Largest artifact accepted: 3 MiB, leaving room in a 4 MiB message.
  public static let maximumBytes = 3 * 1024 * 1024

  public var mediaType: String
  public var fileName: String
  public var sizeBytes: Int
  public var sha256: String
  public var createdAt: Date
  public var expiresAt: Date
  public var purgedAt: Date?
  /// The one-time download link mailed with the completion notice, when one was.
  public var download: ArtifactDownload?

  public var purged: Bool { purgedAt != nil }
}

/// The person's one-time link to their bundle: only its token's hash is kept. It works once,
/// for `lifetime` and never past the artifact's purge.
public struct ArtifactDownload: Sendable, Equatable, Codable {
  public static let lifetime: TimeInterval = 7 * 86_400

  public var tokenHash: String
  public var expiresAt: Date
  public var usedAt: Date?

  /// Uses the link: refused when `token` is not its token, or it was used or has expired.
  mutating func use(token: String, now: Date) throws(RightsError) {
    guard ConstantTime.equals(SecureToken.hash(token), tokenHash) else { throw .downloadTokenMismatch }
    if let usedAt { throw .downloadUsed(at: usedAt) }
    guard now < expiresAt else { throw .downloadExpired }
    usedAt = now
  }
}

/// One recipient told about a request's outcome (art 19).
public struct RecipientNotification: Sendable, Equatable, Codable {
  public var recipientID: String
  public var recipientName: String
  public var summary: String
  public var notifiedAt: Date

  public init(recipientID: String, recipientName: String = "", summary: String, notifiedAt: Date) {
    self.recipientID = recipientID
    self.recipientName = recipientName
    self.summary = summary
    self.notifiedAt = notifiedAt.microsecondPrecision
  }
}

/// Why a request was rejected.
public struct Rejection: Sendable, Equatable, Codable {
  public var grounds: RejectionGrounds?
  public var reason: String
  public var rejectedAt: Date
  public var rejectedBy: String
}

/// A data-subject request and everything known about its handling.
public struct SubjectRequest: Sendable, Equatable, Codable {
  public var id: String
  /// Empty until the person is identified (art 11).
  public var subjectID: String
  public var right: Right
  public var status: RequestStatus
  public var origin: RequestOrigin
  public var requesterEmail: String
  /// Kept by the store in a column of its own (not in the encoded body).
  public var channel: Channel? = nil
  public var details: RequestDetails
  public var receivedAt: Date
  public var dueAt: Date
  public var originalDueAt: Date
  public var extensions: [DeadlineExtension] = []
  public var verification = VerificationState()
  public var steps: [Step] = []
  public var outcome = ""
  public var artifact: ArtifactInfo?
  public var recipientsNotified: [RecipientNotification] = []
  public var rejection: Rejection?
  public var openedBy: String
  public var startedAt: Date?
  public var closedAt: Date?
  /// When the person's data left this closed request (after the subject's erasure, or when the
  /// closed-request retention ran out); nil while kept.
  public var personalDataScrubbedAt: Date?
  public var updatedAt: Date
  public var idempotencyKey: String
  /// The language mails about it are written in; nil (requests opened before languages) is English.
  public var language: MailLanguage?

  /// The language mails about it are written in.
  public var mailLanguage: MailLanguage { language ?? .en }

  /// A new request in RECEIVED, due one calendar month after receipt.
  public init(
    id: String, subjectID: String, right: Right, origin: RequestOrigin, requesterEmail: String, channel: Channel?,
    details: RequestDetails, receivedAt: Date, openedBy: String, idempotencyKey: String, now: Date
  ) {
    let receivedAt = receivedAt.microsecondPrecision
    self.id = id
    self.subjectID = subjectID
    self.right = right
    self.status = .received
    self.origin = origin
    self.requesterEmail = requesterEmail
    self.channel = channel
    self.details = details
    self.receivedAt = receivedAt
    self.dueAt = Deadline.due(receivedAt: receivedAt)
    self.originalDueAt = dueAt
    self.openedBy = openedBy
    self.updatedAt = now.microsecondPrecision
    self.idempotencyKey = idempotencyKey
  }

  /// Open and its deadline has come.
  public func isOverdue(at now: Date) -> Bool {
    status.isOpen && now >= dueAt
  }

  public var extensionMonths: Int { extensions.reduce(0) { $0 + $1.months } }

  public func step(named name: String) -> Step? { steps.first { $0.name == name } }

  /// Everything but `channel`, whose shared type has no Codable conformance.
  enum CodingKeys: String, CodingKey {
    case id, subjectID, right, status, origin, requesterEmail, details, receivedAt, dueAt, originalDueAt, extensions
    case verification, steps, outcome, artifact, recipientsNotified, rejection, openedBy, startedAt, closedAt, updatedAt
    case idempotencyKey, personalDataScrubbedAt, language
  }
}
