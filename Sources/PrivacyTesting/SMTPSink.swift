public import Foundation

/// `Tests/Mail/smtp_sink.py` running for one test; stopped when released.
public final class SMTPSink: Sendable {
  public let port: Int
  private let process: SinkProcess

  /// One accepted message: the envelope and session, then the message as Python's `email`
  /// package parsed it.
  public struct Kept: Decodable, Sendable {
    public let from: String
    public let to: [String]
    public let content: String
    public let tls: Bool
    public let user: String?
    public let headers: [String]?
    public let subject: String?
    public let fromHeader: String?
    public let messageID: String?
    public let listUnsubscribe: String?
    public let listUnsubscribePost: String?
    public let text: String?
    public let html: String?
    public let sevenBit: Bool?

    enum CodingKeys: String, CodingKey {
      case from, to, content, tls, user, headers, subject, text, html
      case fromHeader = "from_header", messageID = "message_id", listUnsubscribe = "list_unsubscribe", listUnsubscribePost = "list_unsubscribe_post", sevenBit = "seven_bit"
    }
  }

  /// `arguments` after the output file: see the script's usage.
  public init(_ arguments: [String] = []) async throws {
    process = try await SinkProcess(script: "smtp_sink.py", arguments: arguments)
    port = process.port
  }

  /// The messages the server accepted, in order.
  public func messages() throws -> [Kept] {
    try process.records(Kept.self)
  }
}
