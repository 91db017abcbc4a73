public import Foundation

/// An email as the suite sends it: RFC 5322 headers over a MIME body (plain text, and HTML as its
/// alternative when there is one), all of it 7-bit on the wire. Header values a caller gives are
/// never written raw: a subject or name is made one line (control characters, line breaks
/// included, become spaces) and goes as an RFC 2047 encoded word when it is not printable ASCII,
/// so no value can add a header of its own.
public struct MailMessage: Sendable {
  public var from: String
  /// The sender's display name; empty for none.
  public var fromName: String
  public var to: String
  public var subject: String
  public var text: String
  /// The HTML alternative; nil sends plain text alone.
  public var html: String?
  /// `<unique@domain>`: stable per outbox message, so that a receiver can drop a resend.
  public var messageID: String
  public var date: Date
  /// The `List-Unsubscribe` and `List-Unsubscribe-Post` values (RFC 2369, RFC 8058), for a
  /// commercial or recurring mail; nil for none.
  public var listUnsubscribe: String?
  public var listUnsubscribePost: String?
  /// The language of the text (`Content-Language`), e.g. `en`; empty for none.
  public var language: String

  public init(
    from: String, fromName: String = "", to: String, subject: String, text: String, html: String? = nil, messageID: String,
    date: Date, listUnsubscribe: String? = nil, listUnsubscribePost: String? = nil, language: String = ""
  ) {
    self.from = from
    self.fromName = fromName
    self.to = to
    self.subject = subject
    self.text = text
    self.html = html
    self.messageID = messageID
    self.date = date
    self.listUnsubscribe = listUnsubscribe
    self.listUnsubscribePost = listUnsubscribePost
    self.language = language
  }

  /// A value that cannot go into a header as it is (a line break or another control character
  /// in a Message-ID, List-Unsubscribe or language value, which are not encoded).
  public struct UnsafeHeaderValue: Error, CustomStringConvertible {
    public let header: String
    public var description: String { "\(header) holds a character a header cannot carry" }
  }

  /// The message as DATA carries it (before dot-stuffing), lines ended by CRLF. `boundary`
  /// separates the alternatives; the default is random.
  public func rendered(boundary: String = "=_alt_" + UUID().uuidString.lowercased()) throws(UnsafeHeaderValue) -> String {
    var headers: [(String, String)] = [
      ("Date", Self.dateFormatter.string(from: date)),
      ("From", fromName.isEmpty ? from : "\(Self.displayName(fromName)) <\(from)>"),
      ("To", to),
      ("Subject", Self.headerWord(subject)),
      ("Message-ID", messageID),
      ("MIME-Version", "1.0"),
    ]
    if !language.isEmpty { headers.append(("Content-Language", language)) }
    if let listUnsubscribe { headers.append(("List-Unsubscribe", listUnsubscribe)) }
    if let listUnsubscribePost { headers.append(("List-Unsubscribe-Post", listUnsubscribePost)) }
    for (name, value) in headers where !Self.isPrintableASCII(value) {
      throw UnsafeHeaderValue(header: name)
    }
    var lines = headers.map { "\($0.0): \($0.1)" }
    if let html {
      lines.append("Content-Type: multipart/alternative; boundary=\"\(boundary)\"")
      lines.append("")
      for (type, body) in [("text/plain", text), ("text/html", html)] {
        lines.append("--\(boundary)")
        lines += Self.part(type, body)
      }
      lines.append("--\(boundary)--")
    } else {
      lines += Self.part("text/plain", text)
    }
    return lines.joined(separator: "\r\n") + "\r\n"
  }

  /// One body part: its headers, a blank line and its quoted-printable content.
  private static func part(_ type: String, _ body: String) -> [String] {
    ["Content-Type: \(type); charset=utf-8", "Content-Transfer-Encoding: quoted-printable", "", QuotedPrintable.encode(body)]
  }

  /// A display name: a quoted string when it is printable ASCII (so that a colon or comma in it
  /// is not read as address syntax), else encoded words.
  static func displayName(_ name: String) -> String {
    let line = singleLine(name)
    guard isPrintableASCII(line) else { return headerWord(line) }
    return "\"" + line.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
  }

  /// The text on one line: each run of control characters (line breaks included) a space.
  static func singleLine(_ text: String) -> String {
    text.unicodeScalars.split { $0.properties.generalCategory == .control }.map { String(String.UnicodeScalarView($0)) }
      .joined(separator: " ")
  }

  static func isPrintableASCII(_ text: String) -> Bool {
    text.utf8.allSatisfy { (0x20..<0x7F).contains($0) }
  }

  /// A header value as is when it is printable ASCII, else RFC 2047 encoded words (UTF-8,
  /// base64), each at most 75 characters and never splitting a character.
  static func headerWord(_ text: String) -> String {
    let value = singleLine(text)
    guard !isPrintableASCII(value) else { return value }
    var words: [String] = []
    var chunk = Data()
    for character in value {
      let bytes = Data(String(character).utf8)
      // 45 bytes of UTF-8 make 60 characters of base64, inside the 75 of "=?UTF-8?B?...?=".
      if chunk.count + bytes.count > 45 {
        words.append("=?UTF-8?B?\(chunk.base64EncodedString())?=")
        chunk = Data()
      }
      chunk += bytes
    }
    if !chunk.isEmpty { words.append("=?UTF-8?B?\(chunk.base64EncodedString())?=") }
    return words.joined(separator: " ")
  }

  private static let dateFormatter: DateFormatter = {
    let formatter = DateFormatter()
    formatter.locale = Locale(identifier: "en_US_POSIX")
    formatter.timeZone = TimeZone(identifier: "UTC")
    formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
    return formatter
  }()
}

/// Quoted-printable (RFC 2045 6.7): text of any bytes as lines of printable ASCII of at most 76
/// characters, line breaks kept as CRLF, long lines broken by soft breaks (`=` at the end).
enum QuotedPrintable {
  static func encode(_ text: String) -> String {
    let normalized = text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
    return normalized.split(separator: "\n", omittingEmptySubsequences: false).map { encodeLine(Array($0.utf8)) }.joined(separator: "\r\n")
  }

  private static func encodeLine(_ bytes: [UInt8]) -> String {
    var lines: [String] = []
    var current = ""
    for (index, byte) in bytes.enumerated() {
      let last = index == bytes.count - 1
      // Printable ASCII but "=", and a space or tab unless it ends the line, go as they are.
      let plain = (byte >= 33 && byte <= 126 && byte != UInt8(ascii: "=")) || ((byte == 0x20 || byte == 0x09) && !last)
      let token = plain ? String(UnicodeScalar(byte)) : String(format: "=%02X", byte)
      if current.utf8.count + token.utf8.count > 75 {
        lines.append(current + "=")
        current = ""
      }
      current += token
    }
    lines.append(current)
    return lines.joined(separator: "\r\n")
  }
}
