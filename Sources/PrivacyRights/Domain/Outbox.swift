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
  /// The language it is written in.
  public var language: MailLanguage
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
    preferenceURL: String = "", language: MailLanguage = .en, recipientID: String = "", webhookURL: String = "",
    webhookSignature: String = "", delivery: OutboxDelivery = OutboxDelivery(), position: Int64 = 0
  ) {
    self.preferenceURL = preferenceURL
    self.language = language
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
    message.body += language.footer(preferenceURL)
    message.preferenceURL = preferenceURL
    return message
  }
}

/// Writes the messages a requester gets, in the request's language. Pure text; the request must
/// have a requester email.
public enum OutboxComposer {
  private static func day(_ date: Date) -> String {
    String(date.ISO8601Format().prefix(10))
  }

  /// The request as the mail names it: "your request for ..." / "tua richiesta di ..." (Italian
  /// takes its article or preposition from the sentence).
  private static func opening(_ request: SubjectRequest) -> String {
    switch request.mailLanguage {
    case .en: "your request for \(request.right.title(.en)), received on \(day(request.receivedAt)) (reference \(request.id))"
    case .it: "tua richiesta di \(request.right.title(.it)), ricevuta il \(day(request.receivedAt)) (riferimento \(request.id))"
    }
  }

  private static func message(
    _ request: SubjectRequest, _ kind: OutboxKind, subject: String, body: String, token: String = "", link: String = "",
    expiresAt: Date? = nil, now: Date
  ) -> OutboxMessage {
    OutboxMessage(
      id: newID(), kind: kind, requestID: request.id, recipientEmail: request.requesterEmail, subjectLine: subject, body: body,
      token: token, link: link, createdAt: now, expiresAt: expiresAt, language: request.mailLanguage)
  }

  /// The verification message with the clear token; `link` is empty without a public base URL.
  public static func verification(
    _ request: SubjectRequest, token: String, link: String, expiresAt: Date, now: Date
  ) -> OutboxMessage {
    let until = expiresAt.ISO8601Format()
    let (subject, body): (String, String)
    switch request.mailLanguage {
    case .en:
      var text = "Hello,\n\nbefore we act on \(opening(request)), we need to confirm that it comes from you.\n\n"
      text += link.isEmpty
        ? "Your confirmation code: \(token)\n\n" : "Please confirm by opening this link:\n\(link)\n\nor by entering this code: \(token)\n\n"
      text += "The code works until \(until). If you did not make this request, ignore this message."
      (subject, body) = ("Please confirm your data protection request", text)
    case .it:
      var text = "Buongiorno,\n\nprima di dare seguito alla \(opening(request)), dobbiamo confermare che proviene da te.\n\n"
      text += link.isEmpty
        ? "Il tuo codice di conferma: \(token)\n\n" : "Conferma aprendo questo link:\n\(link)\n\noppure inserendo questo codice: \(token)\n\n"
      text += "Il codice funziona fino al \(until). Se non hai fatto questa richiesta, ignora questo messaggio."
      (subject, body) = ("Conferma la tua richiesta sulla protezione dei dati", text)
    }
    return message(request, .verification, subject: subject, body: body, token: token, link: link, expiresAt: expiresAt, now: now)
  }

  public static func deadlineExtended(_ request: SubjectRequest, reason: String, now: Date) -> OutboxMessage {
    let due = day(request.dueAt)
    let (subject, body): (String, String)
    switch request.mailLanguage {
    case .en:
      subject = "Your data protection request: new deadline \(due)"
      body = """
        Hello,

        we need more time to answer \(opening(request)). Under Art. 12(3) GDPR we extend the deadline \
        to \(due).

        Why: \(reason)
        """
    case .it:
      subject = "La tua richiesta sulla protezione dei dati: nuova scadenza \(due)"
      body = """
        Buongiorno,

        ci serve più tempo per rispondere alla \(opening(request)). Ai sensi dell'art. 12, par. 3, GDPR \
        proroghiamo la scadenza al \(due).

        Motivo: \(reason)
        """
    }
    return message(request, .deadlineExtended, subject: subject, body: body, now: now)
  }

  public static func rejected(_ request: SubjectRequest, reason: String, now: Date) -> OutboxMessage {
    let (subject, body): (String, String)
    switch request.mailLanguage {
    case .en:
      subject = "Your data protection request was declined"
      body = """
        Hello,

        we cannot act on \(opening(request)).

        Why: \(reason)

        You have the right to lodge a complaint with a supervisory authority and to seek a judicial \
        remedy (Art. 12(4) GDPR).
        """
    case .it:
      subject = "La tua richiesta sulla protezione dei dati è stata respinta"
      body = """
        Buongiorno,

        non possiamo dare seguito alla \(opening(request)).

        Motivo: \(reason)

        Hai il diritto di proporre reclamo a un'autorità di controllo e di proporre ricorso \
        giurisdizionale (art. 12, par. 4, GDPR).
        """
    }
    return message(request, .rejected, subject: subject, body: body, now: now)
  }

  /// The person's one-time link to their bundle, as the completion notice carries it.
  public struct DownloadLink: Sendable {
    public var token: String
    /// Empty without a public base URL: the message then gives the code alone.
    public var link: String
    public var expiresAt: Date
  }

  public static func completed(_ request: SubjectRequest, download: DownloadLink? = nil, now: Date) -> OutboxMessage {
    let (subject, body): (String, String)
    switch request.mailLanguage {
    case .en:
      var text = "Hello,\n\nwe have completed \(opening(request))."
      if let download {
        text += " Your data is ready for you. "
        text += download.link.isEmpty ? "Your download code: \(download.token)" : "Download it here:\n\(download.link)"
        text += "\n\nThe download works once, until \(download.expiresAt.ISO8601Format())."
      } else if request.artifact != nil {
        text += " Your data is ready for you; it is kept for 30 days."
      }
      (subject, body) = ("Your data protection request was completed", text)
    case .it:
      var text = "Buongiorno,\n\nabbiamo completato la \(opening(request))."
      if let download {
        text += " I tuoi dati sono pronti. "
        text += download.link.isEmpty ? "Il tuo codice di download: \(download.token)" : "Scaricali qui:\n\(download.link)"
        text += "\n\nIl download funziona una sola volta, fino al \(download.expiresAt.ISO8601Format())."
      } else if request.artifact != nil {
        text += " I tuoi dati sono pronti; li conserviamo per 30 giorni."
      }
      (subject, body) = ("La tua richiesta sulla protezione dei dati è stata completata", text)
    }
    return message(
      request, .completed, subject: subject, body: body, token: download?.token ?? "", link: download?.link ?? "",
      expiresAt: download?.expiresAt, now: now)
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
