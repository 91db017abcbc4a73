/// A server's reply: a three-digit code and its text (the lines of a multi-line reply joined by
/// newlines, without their codes). A refusal's text may name the recipient's address: strip it
/// before keeping or logging the reply.
public struct SMTPReply: Sendable, Equatable, CustomStringConvertible {
  public let code: Int
  public let text: String

  public init(code: Int, text: String) {
    self.code = code
    self.text = text
  }

  /// 2xx: done. (3xx, an intermediate reply, is expected only where the dialogue asks for one.)
  public var isPositive: Bool { (200..<300).contains(code) }
  /// 4xx: the server cannot now; the same message may succeed later.
  public var isTransient: Bool { (400..<500).contains(code) }

  public var description: String { "\(code) \(text)" }

  /// Takes one reply line (without CRLF) of a possibly multi-line reply: nil while more lines of
  /// the same reply follow (`250-...`), the whole reply at its last line (`250 ...`).
  struct Assembler {
    private var code: Int?
    private var lines: [String] = []
    /// A reply of more lines than this is not one a mail server sends.
    static let maximumLines = 200

    mutating func take(_ line: String) throws(SMTPFailure) -> SMTPReply? {
      let bytes = Array(line.utf8)
      guard bytes.count >= 3, bytes[0...2].allSatisfy({ (0x30...0x39).contains($0) }),
        bytes.count == 3 || bytes[3] == UInt8(ascii: " ") || bytes[3] == UInt8(ascii: "-"),
        let lineCode = Int(String(decoding: bytes[0...2], as: UTF8.self))
      else { throw .protocolViolation("a reply line without a code") }
      guard code == nil || code == lineCode else { throw .protocolViolation("a multi-line reply changed its code") }
      guard lines.count < Self.maximumLines else { throw .protocolViolation("a reply of too many lines") }
      code = lineCode
      lines.append(bytes.count > 4 ? String(decoding: bytes[4...], as: UTF8.self) : "")
      guard bytes.count == 3 || bytes[3] == UInt8(ascii: " ") else { return nil }
      defer { self = Assembler() }
      return SMTPReply(code: lineCode, text: lines.joined(separator: "\n"))
    }
  }
}

/// Why a message was not delivered. `transient` failures (4xx replies, a lost or refused
/// connection, a timeout) may succeed when tried again; the others will not.
public enum SMTPFailure: Error, Equatable, CustomStringConvertible {
  /// The server answered 4xx at `stage`.
  case transient(stage: String, reply: SMTPReply)
  /// The server answered 5xx (or an unexpected code) at `stage`.
  case permanent(stage: String, reply: SMTPReply)
  /// The connection failed, closed early or timed out.
  case connection(String)
  /// The server spoke something that is not SMTP.
  case protocolViolation(String)
  /// TLS was required (`SMTP_REQUIRE_TLS=1`, or credentials to send) and the server offered no
  /// STARTTLS.
  case tlsUnavailable
  /// Credentials were configured and the server offers neither AUTH PLAIN nor AUTH LOGIN.
  case noUsableAuthentication
  /// An address that cannot go into an SMTP command (a line break, angle brackets, over 254
  /// characters).
  case unusableAddress

  /// Whether trying the same message again later may succeed.
  public var isTransient: Bool {
    switch self {
    case .transient, .connection: true
    default: false
    }
  }

  public var description: String {
    switch self {
    case .transient(let stage, let reply), .permanent(let stage, let reply): "\(stage): \(reply)"
    case .connection(let what): "connection: \(what)"
    case .protocolViolation(let what): "not SMTP: \(what)"
    case .tlsUnavailable: "the server offers no STARTTLS, and TLS is required"
    case .noUsableAuthentication: "the server offers neither AUTH PLAIN nor AUTH LOGIN"
    case .unusableAddress: "an address that cannot go into an SMTP command"
    }
  }
}
