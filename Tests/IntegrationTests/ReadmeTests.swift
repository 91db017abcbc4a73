import Foundation
import PrivacyTesting
import Testing

extension LaunchedSuites {
  /// The README's blocks paste and run as written on a fresh suite: `Run it`'s privacyctl block, the
  /// privacyctl tour, the walkthrough, then grpcurl and the Python example, in bash with `set -e`,
  /// with nothing but the launcher's `export` line (and the built executables on the PATH).
  @Suite("README")
  struct ReadmeTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent()

    /// The ```sh blocks of the section under `heading`, in order.
    static func shellBlocks(under heading: String) throws -> [String] {
      try blocks("sh", under: heading)
    }

    /// The blocks fenced as ```language in the section under `heading`, in order.
    static func blocks(_ language: String, under heading: String) throws -> [String] {
      let readme = repository.appendingPathComponent("README.md")
      let text = try String(contentsOf: readme, encoding: .utf8)
      guard let start = text.range(of: "\n## " + heading) else { throw TestFailure("README has no section \(heading)") }
      let section = text[start.upperBound...]
      let body = section.range(of: "\n## ").map { section[..<$0.lowerBound] } ?? section
      return body.components(separatedBy: "```\(language)\n").dropFirst().map { String($0.prefix(upTo: $0.range(of: "```")!.lowerBound)) }
    }

    @Test("Run it, the privacyctl tour, the walkthrough, grpcurl and Python run as written, with the printed export line")
    func blocksRun() async throws {
      // The Python example runs as a here-document after the block that generates its stubs.
      let python = try Self.blocks("python", under: "Call a service").map { "python3 - <<'PYTHON'\n\($0)PYTHON\n" }
      let blocks = try Self.shellBlocks(under: "Run it").filter { $0.contains("privacyctl") }
        + Self.shellBlocks(under: "Administer with privacyctl") + Self.shellBlocks(under: "Walkthrough")
        + Self.shellBlocks(under: "Call a service") + python
      try #require(blocks.count == 7, "\(blocks)")
      try await withLaunchedSuite { suite in
        // The shell of a user who pasted the export line; the executables are the built ones.
        var environment = ProcessInfo.processInfo.environment.filter { ["HOME", "LANG"].contains($0.key) }
        environment["PATH"] = binDirectory.path + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        environment.merge(suite.environment(apiKey: suite.devAPIKey)) { _, new in new }
        environment["PRIVACY_MAILER_KEY"] = suite.mailerKey
        environment["PRIVACY_SUITE_DIR"] = suite.directory.path("data")
        // The user's folder is the repository's: the Python example reads Protocol/ from it.
        try FileManager.default.createSymbolicLink(
          at: suite.directory.url.appendingPathComponent("Protocol"), withDestinationURL: Self.repository.appendingPathComponent("Protocol"))
        let script = "set -e -o pipefail\ncd \(suite.directory.url.path)\n" + blocks.joined(separator: "\n")
        let bash = try RunningProcess(executable: URL(fileURLWithPath: "/bin/bash"), arguments: ["-c", script], environment: environment)
        let status = try await bash.waitForExit(timeout: .seconds(120))
        let output = bash.standardOutput
        // README_TRANSCRIPT=FILE keeps the run's output, to refresh the output the README shows.
        if let transcript = ProcessInfo.processInfo.environment["README_TRANSCRIPT"] {
          try output.write(toFile: transcript, atomically: true, encoding: .utf8)
        }
        #expect(status == 0, "stdout:\n\(output)\nstderr:\n\(bash.standardError)")
        #expect(output.components(separatedBy: "valid:            yes").count == 3, "\(output)")
        #expect(output.components(separatedBy: "exit status 1").count == 3, "\(output)")
        #expect(output.contains("opt-in status:  DOUBLE_OPT_IN"))
        #expect(output.contains("status:         COMPLETED"))
        #expect(bash.standardError.contains("SUBJECT_PREVIOUSLY_ERASED"), "\(bash.standardError)")
        #expect(output.contains("rpc Check ( .privacy.blocklist.v1.CheckRequest )"), "grpcurl describe: \(output)")
        #expect(output.contains("False CONSENT_REASON_"), "the Python example: \(output)")
      }
    }
  }
}
