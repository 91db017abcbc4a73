public import Foundation

/// A test server script of `Tests/Mail/` running for one test: started with its output file first,
/// waited for until it prints `listening on 127.0.0.1:PORT`, stopped when released. The script
/// appends one JSON object per thing it received to the output file.
final class SinkProcess: Sendable {
  static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Tests/Mail")

  let port: Int
  private let pid: pid_t
  private let directory: TestDirectory

  init(script: String, arguments: [String]) async throws {
    directory = try TestDirectory()
    let output = directory.path("stdout")
    pid = try spawn(
      "/usr/bin/env", arguments: ["python3", Self.folder.appendingPathComponent(script).path, directory.path("kept.jsonl")] + arguments,
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
      throw SinkFailed(script: script, errors: (try? String(contentsOfFile: directory.path("stderr"), encoding: .utf8)) ?? "")
    }
    self.port = port
  }

  /// What the script kept, in order.
  func records<Record: Decodable>(_ type: Record.Type) throws -> [Record] {
    guard let text = try? String(contentsOfFile: directory.path("kept.jsonl"), encoding: .utf8) else { return [] }
    return try text.split(separator: "\n").map { try JSONDecoder().decode(Record.self, from: Data($0.utf8)) }
  }

  struct SinkFailed: Error, CustomStringConvertible {
    let script: String
    let errors: String
    var description: String { "\(script) did not start: \(errors.suffix(2000))" }
  }

  deinit {
    kill(pid, SIGTERM)
    var status: Int32 = 0
    _ = waitpid(pid, &status, 0)
    directory.remove()
  }
}
