import Crypto
public import Foundation
public import PrivacyKit

/// An email to a requester waiting for the mail system. Address, body, token and links are wiped
/// once acknowledged or failed for good: the clear verification token exists only in an
/// undelivered message.
public struct OutboxMessage: Sendable, Equatable, DeliverableMessage {
  public var id: String
  public var kind: OutboxKind
  public var requestID: String
  public var recipientEmail: String
  public var subjectLine: String
  public var body: String
  public var token: String
  public var link: String
  public var createdAt: Date
  public var expiresAt: Date?
  public var ackedAt: Date?
  /// The requester's preference page, for the mail's footer (also at the body's end); empty
  /// when the request has none.
  public var preferenceURL: String
  /// For a recipient notice (art 19): the recipient told.
  public var recipientID: String
  /// For a recipient notice by webhook: where `body` (JSON) is POSTed, instead of mailed.
  public var webhookURL: String
  /// For a recipient notice by webhook: the `X-Privacy-Signature` value.
  public var webhookSignature: String
  /// Attempts, lease and failure, as the mail relay reported them.
  public var delivery: OutboxDelivery
  /// Position in the outbox (store-assigned), for paging.
  public var position: Int64

  public init(
    id: String, kind: OutboxKind, requestID: String, recipientEmail: String, subjectLine: String, body: String,
    token: String = "", link: String = "", createdAt: Date, expiresAt: Date? = nil, ackedAt: Date? = nil,
    preferenceURL: String = "", recipientID: String = "", webhookURL: String = "", webhookSignature: String = "",
    delivery: OutboxDelivery = OutboxDelivery(), position: Int64 = 0
  ) {
    self.preferenceURL = preferenceURL
    self.recipientID = recipientID
    self.webhookURL = webhookURL
    self.webhookSignature = webhookSignature
    self.delivery = delivery
    self.id = id
    self.kind = kind
    self.requestID = requestID
    self.recipientEmail = recipientEmail
    self.subjectLine = subjectLine
    self.body = body
    self.token = token
    self.link = link
    self.createdAt = createdAt.microsecondPrecision
    self.expiresAt = expiresAt?.microsecondPrecision
    self.ackedAt = ackedAt?.microsecondPrecision
    self.position = position
  }
}

extension OutboxMessage {
  /// The message with the requester's own preference-page link in its footer; unchanged for an
  /// empty link.
  public func withPreferenceFooter(_ preferenceURL: String) -> OutboxMessage {
    guard !preferenceURL.isEmpty else { return self }
    var message = self
    message.body += "\n\n-- \nYour privacy preferences: \(preferenceURL)"
    message.preferenceURL = preferenceURL
    return message
  }
}

/// Writes the messages a requester gets. Pure text; the request must have a requester email.
public enum OutboxComposer {
  private static func day(_ date: Date) -> String {
    String(date.ISO8601Format().prefix(10))
  }

  private static func opening(_ request: SubjectRequest) -> String {
    "your request for \(request.right.title), received on \(day(request.receivedAt)) (reference \(request.id))"
  }

  /// The verification message with the clear token; `link` is empty without a public base URL.
  public static func verification(
    _ request: SubjectRequest, token: String, link: String, expiresAt: Date, now: Date
  ) -> OutboxMessage {
    var body = "Hello,\n\nbefore we act on \(opening(request)), we need to confirm that it comes from you.\n\n"
    if link.isEmpty {
      body += "Your confirmation code: \(token)\n\n"
    } else {
      body += "Please confirm by opening this link:\n\(link)\n\nor by entering this code: \(token)\n\n"
    }
    body += "The code works until \(expiresAt.ISO8601Format()). If you did not make this request, ignore this message."
    return OutboxMessage(
      id: newID(), kind: .verification, requestID: request.id, recipientEmail: request.requesterEmail,
      subjectLine: "Please confirm your data protection request", body: body, token: token, link: link, createdAt: now,
      expiresAt: expiresAt)
  }

  public static func deadlineExtended(_ request: SubjectRequest, reason: String, now: Date) -> OutboxMessage {
    let body = """
      Hello,

      we need more time to answer \(opening(request)). Under Art. 12(3) GDPR we extend the deadline \
      to \(day(request.dueAt)).

      Why: \(reason)
      """
    return OutboxMessage(
      id: newID(), kind: .deadlineExtended, requestID: request.id, recipientEmail: request.requesterEmail,
      subjectLine: "Your data protection request: new deadline \(day(request.dueAt))", body: body, createdAt: now)
  }

  public static func rejected(_ request: SubjectRequest, reason: String, now: Date) -> OutboxMessage {
    let body = """
      Hello,

      we cannot act on \(opening(request)).

      Why: \(reason)

      You have the right to lodge a complaint with a supervisory authority and to seek a judicial \
      remedy (Art. 12(4) GDPR).
      """
    return OutboxMessage(
      id: newID(), kind: .rejected, requestID: request.id, recipientEmail: request.requesterEmail,
      subjectLine: "Your data protection request was declined", body: body, createdAt: now)
  }

  /// The person's one-time link to their bundle, as the completion notice carries it.
  public struct DownloadLink: Sendable {
    public var token: String
    /// Empty without a public base URL: the message then gives the code alone.
    public var link: String
    public var expiresAt: Date
  }

  public static func completed(_ request: SubjectRequest, download: DownloadLink? = nil, now: Date) -> OutboxMessage {
    var body = "Hello,\n\nwe have completed \(opening(request))."
    if let download {
      body += " Your data is ready for you. "
      body += download.link.isEmpty ? "Your download code: \(download.token)" : "Download it here:\n\(download.link)"
      body += "\n\nThe download works once, until \(download.expiresAt.ISO8601Format())."
    } else if request.artifact != nil {
      body += " Your data is ready for you; it is kept for 30 days."
    }
    return OutboxMessage(
      id: newID(), kind: .completed, requestID: request.id, recipientEmail: request.requesterEmail,
      subjectLine: "Your data protection request was completed", body: body, token: download?.token ?? "",
      link: download?.link ?? "", createdAt: now, expiresAt: download?.expiresAt)
  }

  private static func newID() -> String { UUID().uuidString.lowercased() }
}

/// The art 19 notices to a recipient of the subject's data: a mail to its `notify_email`, and a
/// JSON document POSTed to its `notify_url`, signed with its webhook secret.
public enum RecipientNoticeComposer {
  public static func email(_ request: SubjectRequest, recipient: Recipient, summary: String, fields: [String], now: Date) -> OutboxMessage {
    var body = """
      Hello,

      you receive personal data from us as \(recipient.name). Under Art. 19 GDPR we tell you about \
      the outcome of a data protection request (reference \(request.id)):

      \(summary)
      """
    if !fields.isEmpty { body += "\n\nData concerned: \(fields.joined(separator: ", "))" }
    body += "\n\nPlease apply it to the data you hold about this person (our key: \(request.subjectID))."
    return OutboxMessage(
      id: newID(), kind: .recipientNotice, requestID: request.id, recipientEmail: recipient.notify.email,
      subjectLine: "Art. 19 GDPR notice: request \(request.id)", body: body, createdAt: now, recipientID: recipient.id)
  }

  public static func webhook(_ request: SubjectRequest, recipient: Recipient, summary: String, fields: [String], now: Date) -> OutboxMessage {
    let id = newID()
    let document: [String: Any] = [
      "type": "privacy.art19_notice.v1", "notice_id": id, "request_id": request.id, "right": request.right.rawValue,
      "subject_id": request.subjectID, "recipient_id": recipient.id, "summary": summary, "fields": fields,
      "created_at": now.ISO8601Format(),
    ]
    // Sorted keys: the same notice is the same bytes, which is what the signature covers.
    let body = (try? JSONSerialization.data(withJSONObject: document, options: [.sortedKeys, .withoutEscapingSlashes]))
      .map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    return OutboxMessage(
      id: id, kind: .recipientNotice, requestID: request.id, recipientEmail: "", subjectLine: "Art. 19 GDPR notice", body: body,
      createdAt: now, recipientID: recipient.id, webhookURL: recipient.notify.url,
      webhookSignature: signature(of: body, secret: recipient.notify.webhookSecret))
  }

  /// `sha256=` and the hex HMAC-SHA256 of `body` keyed by the secret's UTF-8 bytes.
  public static func signature(of body: String, secret: String) -> String {
    let mac = HMAC<SHA256>.authenticationCode(for: Data(body.utf8), using: SymmetricKey(data: Data(secret.utf8)))
    return "sha256=" + mac.map { String(format: "%02x", $0) }.joined()
  }

  private static func newID() -> String { UUID().uuidString.lowercased() }
}

/// What one recipient is to be told (NotifyRecipients), checked.
public struct RecipientNoticeDraft: Sendable, Equatable {
  public var recipientID: String
  public var summary: String
  public var fields: [String]

  public init(recipientID: String, summary: String, fields: [String]) {
    self.recipientID = recipientID
    self.summary = summary
    self.fields = fields
  }
}

/// Where one delivery of an art 19 notice stands.
public struct RecipientDelivery: Sendable, Equatable {
  public enum Channel: Sendable, Equatable { case email, webhook, manual }
  public enum State: Sendable, Equatable { case queued, delivered, failed, manual }

  public var recipientID: String
  public var recipientName: String
  public var channel: Channel
  /// Nil for a manual notice.
  public var message: OutboxMessage?

  public var state: State {
    guard let message else { return .manual }
    if message.ackedAt != nil { return .delivered }
    return message.delivery.failedAt == nil ? .queued : .failed
  }

  /// When it was delivered or failed.
  public var settledAt: Date? { message?.ackedAt ?? message?.delivery.failedAt }

  public init(recipientID: String, recipientName: String, channel: Channel, message: OutboxMessage?) {
    self.recipientID = recipientID
    self.recipientName = recipientName
    self.channel = channel
    self.message = message
  }
}
