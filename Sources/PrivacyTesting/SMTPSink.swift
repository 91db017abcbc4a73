public import Foundation

/// `Tests/Mail/smtp_sink.py` running for one test; stopped when released.
public final class SMTPSink: Sendable {
  static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Tests/Mail/smtp_sink.py").path

  public let port: Int
  private let pid: pid_t
  private let directory: TestDirectory

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

  public init(_ arguments: [String] = []) async throws {
    directory = try TestDirectory()
    let output = directory.path("stdout")
    pid = try spawn(
      "/usr/bin/env", arguments: ["python3", Self.script, directory.path("kept.jsonl")] + arguments,
      environment: ProcessInfo.processInfo.environment, standardOutput: output, standardError: directory.path("stderr"))
    let deadline = ContinuousClock.now + .seconds(20)
    var port: Int?
    var status: Int32 = 0
    while port == nil && ContinuousClock.now < deadline && waitpid(pid, &status, WNOHANG) == 0 {
      let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
      port = text.components(separatedBy: "listening on 127.0.0.1:").dropFirst().first.flatMap { Int($0.prefix { $0.isNumber }) }
      if port == nil { try await Task.sleep(for: .milliseconds(50)) }
    }
    guard let port else {
      kill(pid, SIGKILL)
      throw SinkFailed(errors: (try? String(contentsOfFile: directory.path("stderr"), encoding: .utf8)) ?? "")
    }
    self.port = port
  }

  /// The messages the server accepted, in order.
  public func messages() throws -> [Kept] {
    guard let text = try? String(contentsOfFile: directory.path("kept.jsonl"), encoding: .utf8) else { return [] }
    return try text.split(separator: "\n").map { try JSONDecoder().decode(Kept.self, from: Data($0.utf8)) }
  }

  public struct SinkFailed: Error, CustomStringConvertible {
    let errors: String
    public var description: String { "smtp_sink.py did not start: \(errors.suffix(2000))" }
  }

  deinit {
    kill(pid, SIGTERM)
    var status: Int32 = 0
    _ = waitpid(pid, &status, 0)
    directory.remove()
  }
}
