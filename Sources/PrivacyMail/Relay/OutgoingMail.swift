public import Foundation
public import PrivacyKit

/// An outbox message as the relay sends it, whichever service's outbox it came from.
public struct OutgoingMail: Sendable, Equatable {
  /// The outbox's name (`consent`, `rights`): with `id`, the mail's stable Message-ID.
  public var outbox: String
  /// The outbox message's id.
  public var id: String
  /// The address; empty once wiped (the subject was erased before delivery).
  public var recipient: String
  public var subject: String
  /// The plain text as the service wrote it, its footer included.
  public var text: String
  /// The subject's preference page, for the HTML footer; empty for none.
  public var preferenceURL: String
  /// `List-Unsubscribe` and `List-Unsubscribe-Post` values; empty for none.
  public var listUnsubscribe: String
  public var listUnsubscribePost: String
  /// Failed attempts before this one.
  public var attempts: Int
  /// An art 19 notice by webhook: `text` (JSON) is POSTed here instead of mailed; empty for mail.
  public var webhookURL: String
  /// The webhook's `X-Privacy-Signature` value.
  public var webhookSignature: String
  /// The language the text is in: the HTML part's words and `Content-Language` follow it.
  public var language: MailLanguage

  public init(
    outbox: String, id: String, recipient: String, subject: String, text: String, preferenceURL: String = "",
    listUnsubscribe: String = "", listUnsubscribePost: String = "", attempts: Int = 0, webhookURL: String = "",
    webhookSignature: String = "", language: MailLanguage = .en
  ) {
    self.language = language
    self.webhookURL = webhookURL
    self.webhookSignature = webhookSignature
    self.outbox = outbox
    self.id = id
    self.recipient = recipient
    self.subject = subject
    self.text = text
    self.preferenceURL = preferenceURL
    self.listUnsubscribe = listUnsubscribe
    self.listUnsubscribePost = listUnsubscribePost
    self.attempts = attempts
  }

  /// `<outbox.id@domain>`: the same for every attempt at this message, so that a receiver can
  /// drop a copy sent again after a relay died between the server's 250 and the acknowledgement.
  public func messageID(domain: String) -> String {
    "<\(outbox).\(id)@\(domain)>"
  }

  /// The message to send from `sender`, its HTML alternative made from the text.
  public func message(from sender: MailSender, at date: Date) -> MailMessage {
    MailMessage(
      from: sender.address, fromName: sender.name, to: recipient, subject: subject, text: text,
      html: MailBody.html(text: text, subject: subject, preferenceURL: preferenceURL, language: language),
      messageID: messageID(domain: sender.domain), date: date,
      listUnsubscribe: listUnsubscribe.isEmpty ? nil : listUnsubscribe,
      listUnsubscribePost: listUnsubscribePost.isEmpty ? nil : listUnsubscribePost, language: language.rawValue)
  }
}

/// Who the suite's mail comes from (`MAIL_FROM`: `address` or `Name <address>`).
public struct MailSender: Sendable, Equatable {
  public var address: String
  public var name: String

  /// The part after the `@`, for Message-IDs.
  public var domain: String { address.split(separator: "@").last.map(String.init) ?? "localhost" }

  public init?(_ text: String) {
    let trimmed = text.trimmingCharacters(in: .whitespaces)
    if trimmed.hasSuffix(">"), let open = trimmed.lastIndex(of: "<") {
      name = trimmed[..<open].trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
      address = String(trimmed[trimmed.index(after: open)..<trimmed.index(before: trimmed.endIndex)])
    } else {
      name = ""
      address = trimmed
    }
    let parts = address.split(separator: "@", omittingEmptySubsequences: false)
    guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty, SMTPClient.isUsable(address) else { return nil }
  }
}
