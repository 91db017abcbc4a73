public import Foundation

/// `Tests/Mail/webhook_sink.py` running for one test: an HTTPS endpoint with the given certificate
/// that keeps every POST, answers 404 on a path ending in `/gone`, 503 to the first `failFirst`
/// other requests and 204 after.
public final class WebhookSink: Sendable {
  public let port: Int
  private let process: SinkProcess

  /// One POST as received.
  public struct Received: Decodable, Sendable {
    public let path: String
    public let signature: String?
    public let noticeID: String?
    public let contentType: String?
    public let body: String

    enum CodingKeys: String, CodingKey {
      case path, signature, body
      case noticeID = "notice_id", contentType = "content_type"
    }
  }

  public init(certificateFile: String, keyFile: String, failFirst: Int = 0) async throws {
    process = try await SinkProcess(script: "webhook_sink.py", arguments: [certificateFile, keyFile, "--fail-first", String(failFirst)])
    port = process.port
  }

  public func requests() throws -> [Received] {
    try process.records(Received.self)
  }
}
