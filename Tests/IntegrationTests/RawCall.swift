import Foundation
import PrivacyKit
import PrivacyTesting

/// One gRPC call made with curl (HTTP/2 with prior knowledge, no TLS), so a test can send what a
/// gRPC library refuses to send: malformed headers, no message, two messages, broken bytes.
struct RawCall {
  /// What came back: the gRPC status and message (headers or trailers), or curl's failure.
  struct Answer: CustomStringConvertible {
    var status: Int?
    var message: String?
    /// The HTTP status and the response body as received (gRPC frames).
    var httpStatus: Int?
    var body: [UInt8] = []
    var curlExit: Int32

    var description: String { "status \(status.map(String.init) ?? "none") \(message ?? "") (curl exit \(curlExit))" }
  }

  var path: String
  var headers: [String] = []
  /// The HTTP/2 body as sent: gRPC frames, or anything else. Nil: none, the request ends with
  /// its headers. A call the server refuses on its headers alone is sent without a body: curl
  /// (7.88) can wait out its whole `--max-time` when the answer arrives before it has sent the
  /// body (curl issues 10433 and 15316).
  var body: [UInt8]?

  /// A body of gRPC length-prefixed frames, one per message.
  static func frames(_ messages: [UInt8]...) -> [UInt8] {
    messages.flatMap { message in
      [0] + withUnsafeBytes(of: UInt32(message.count).bigEndian, Array.init) + message
    }
  }

  func send(to address: ServiceAddress, in directory: TestDirectory) async throws -> Answer {
    let name = UUID().uuidString
    let bodyPath = directory.path("\(name).body")
    let headerPath = directory.path("\(name).headers")
    let answerPath = directory.path("\(name).answer")
    var arguments = [
      "-s", "--http2-prior-knowledge", "--max-time", "20", "-o", answerPath, "-D", headerPath,
      "-H", "content-type: application/grpc", "-H", "te: trailers",
    ]
    if let body {
      try Data(body).write(to: URL(fileURLWithPath: bodyPath))
      arguments += ["--data-binary", "@\(bodyPath)"]
    } else {
      arguments += ["-X", "POST"]
    }
    for header in headers { arguments += ["-H", header] }
    arguments.append("http://\(address)\(path)")
    let curl = try RunningProcess(executable: URL(fileURLWithPath: "/usr/bin/curl"), arguments: arguments, environment: [:])
    let exit = try await curl.waitForExit(timeout: .seconds(30))
    let dump = (try? String(contentsOfFile: headerPath, encoding: .utf8)) ?? ""
    var answer = Answer(body: Array(FileManager.default.contents(atPath: answerPath) ?? Data()), curlExit: exit)
    for line in dump.split(whereSeparator: \.isNewline) {
      if line.hasPrefix("HTTP/2 ") { answer.httpStatus = Int(line.dropFirst(7).prefix(3)) }
      let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
      guard parts.count == 2 else { continue }
      switch parts[0].lowercased() {
      case "grpc-status": answer.status = Int(parts[1])
      case "grpc-message": answer.message = parts[1].removingPercentEncoding ?? parts[1]
      default: break
      }
    }
    return answer
  }
}
