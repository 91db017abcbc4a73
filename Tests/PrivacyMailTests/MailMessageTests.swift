import Foundation
import PrivacyMail
import PrivacyTesting
import Testing

/// Messages as `MailMessage` writes them, read back by a stock parser: delivered to aiosmtpd,
/// whose sink parses each with Python's `email` package.
@Suite("Mail messages: MIME a stock parser reads back")
struct MailMessageTests {
  static let text = """
    Bitte bestätigen Sie Ihre Änderungen: https://privacy.example.com/confirm/preferences?token=abc_DEF-123
    .a line that starts with a dot, and = signs, and trailing spaces   
    \(String(repeating: "ü", count: 100))
    """

  private func deliver(_ message: MailMessage) async throws -> SMTPSink.Kept {
    let sink = try await SMTPSink()
    let client = SMTPClient(server: try SMTPServer(url: "smtp://127.0.0.1:\(sink.port)"))
    _ = try await client.send(from: message.from, to: [message.to], message: try message.rendered())
    return try #require(try sink.messages().first)
  }

  @Test("text and HTML alternatives, an encoded subject and name, the unsubscribe headers: 7-bit on the wire, read back exactly")
  func alternatives() async throws {
    let message = MailMessage(
      from: "privacy@example.org", fromName: "Datenschutz Müller GmbH", to: "ada@example.org",
      subject: "Bitte bestätigen Sie Ihre Änderungen – \(String(repeating: "ß", count: 40))", text: Self.text,
      html: "<p>Bitte <a href=\"https://privacy.example.com/p/x\">bestätigen</a> Sie.</p>", messageID: "<m-1@privacy.example.org>",
      date: Date(timeIntervalSince1970: 1_796_000_000), listUnsubscribe: "<https://privacy.example.com/u/tok>",
      listUnsubscribePost: "List-Unsubscribe=One-Click", language: "de")
    let kept = try await deliver(message)
    #expect(kept.sevenBit == true)
    // Header lines within RFC 5322's 998 characters; body lines within quoted-printable's 76.
    let rendered = try message.rendered()
    let head = rendered.components(separatedBy: "\r\n\r\n")[0]
    #expect(head.components(separatedBy: "\r\n").allSatisfy { $0.utf8.count <= 998 })
    #expect(rendered.dropFirst(head.count).components(separatedBy: "\r\n").allSatisfy { $0.utf8.count <= 76 })
    #expect(kept.subject == message.subject)
    #expect(kept.fromHeader == "Datenschutz Müller GmbH <privacy@example.org>")
    #expect(kept.messageID == "<m-1@privacy.example.org>")
    #expect(kept.listUnsubscribe == "<https://privacy.example.com/u/tok>")
    // The parser gives the lines as they came, CRLF.
    #expect(kept.text?.replacingOccurrences(of: "\r\n", with: "\n") == Self.text)
    #expect(kept.html == message.html)
    #expect(kept.headers?.contains("list-unsubscribe-post") == true && kept.headers?.contains("content-language") == true)
  }

  @Test("a plain-text message has a single part; a line break in a subject or name adds no header")
  func injection() async throws {
    let message = MailMessage(
      from: "privacy@example.org", fromName: "Evil\r\nBcc: eve@example.org", to: "ada@example.org",
      subject: "Hello\r\nBcc: eve@example.org", text: "Plain.", messageID: "<m-2@privacy.example.org>", date: Date())
    let kept = try await deliver(message)
    #expect(kept.headers?.contains("bcc") == false)
    #expect(kept.subject == "Hello Bcc: eve@example.org")
    #expect(kept.fromHeader == "\"Evil Bcc: eve@example.org\" <privacy@example.org>")
    #expect(kept.text == "Plain.\r\n" && kept.html == nil)

    var unsafe = message
    unsafe.listUnsubscribe = "<https://x>\r\nBcc: eve@example.org"
    #expect(throws: MailMessage.UnsafeHeaderValue.self) { try unsafe.rendered() }
  }
}
