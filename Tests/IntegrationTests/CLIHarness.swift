import Foundation
import PrivacyKit
import PrivacyTesting
import Testing

/// What one run of `privacyctl` did.
struct CLIResult: CustomStringConvertible {
  var status: Int32
  var standardOutput: String
  var standardError: String

  var description: String { "exit \(status)\nstdout:\n\(standardOutput)\nstderr:\n\(standardError)" }

  /// Standard output parsed as a JSON object (for `--output json`).
  func json() throws -> [String: Any] {
    let object = try JSONSerialization.jsonObject(with: Data(standardOutput.utf8))
    guard let dictionary = object as? [String: Any] else { throw TestFailure("not a JSON object: \(standardOutput)") }
    return dictionary
  }
}

/// A `privacy-suite` started for a test with ephemeral ports, and how `privacyctl` reaches its gateway.
struct LaunchedSuite {
  let process: RunningProcess
  let directory: TestDirectory
  /// `PRIVACY_GATEWAY_ADDR` as printed by the launcher.
  let gatewayAddress: String
  /// The printed dev key (role dpo); nil when the test gave its own keys file.
  let devAPIKey: String?
  /// The printed dev mailer key (role service); nil when the test gave its own keys file.
  let mailerKey: String?
  /// `PRIVACY_CA_FILE` as printed by the launcher: the dev CA that vouches for the gateway.
  let caFile: String?
  /// The launcher's announcement, line by line.
  let announcement: [String]

  /// What `privacyctl` needs to reach the gateway as `apiKey`.
  func environment(apiKey: String?) -> [String: String] {
    var environment = ["PRIVACY_GATEWAY_ADDR": gatewayAddress]
    if let caFile { environment["PRIVACY_CA_FILE"] = caFile }
    if let apiKey { environment["PRIVACY_API_KEY"] = apiKey }
    return environment
  }

  /// Starts the suite in `directory/data` and waits for its announcement.
  static func start(in directory: TestDirectory, environment: [String: String] = [:]) async throws -> LaunchedSuite {
    let process = try RunningProcess(
      "privacy-suite", arguments: ["--data-dir", directory.path("data"), "--ephemeral-ports"], environment: environment)
    var exports: [String: String] = [:]
    var gateway: String?
    var announcement: [String] = []
    while let line = await process.nextLine(timeout: .seconds(90)), !line.hasPrefix("Press Ctrl-C") {
      announcement.append(line)
      if line.hasPrefix("  export ") {
        for assignment in line.dropFirst("  export ".count).split(separator: " ") {
          let pair = assignment.split(separator: "=", maxSplits: 1).map(String.init)
          if pair.count == 2 { exports[pair[0]] = pair[1] }
        }
      }
      let parts = line.split(separator: " ", omittingEmptySubsequences: true)
      if parts.count == 5, parts[0] == "gateway", parts[2] == "SERVING" { gateway = String(parts[1]) }
    }
    guard let gateway else { throw TestFailure("the suite did not start; stderr: \(process.standardError)") }
    return LaunchedSuite(
      process: process, directory: directory, gatewayAddress: gateway, devAPIKey: exports["PRIVACY_API_KEY"],
      mailerKey: exports["PRIVACY_MAILER_KEY"], caFile: exports["PRIVACY_CA_FILE"], announcement: announcement)
  }

  /// Runs `privacyctl` against this suite's gateway with `apiKey` (default: the dev key).
  func ctl(_ arguments: String..., apiKey: String? = nil) async throws -> CLIResult {
    try await runPrivacyCtl(arguments, environment: environment(apiKey: apiKey ?? devAPIKey), directory: directory)
  }

  /// Stops the suite with SIGINT, as an operator would.
  func stop() async throws {
    process.signal(SIGINT)
    #expect(try await process.waitForExit() == 0)
  }
}

/// Runs `body` with a suite started in a fresh temporary directory, then stops the suite (also
/// when `body` throws, so no service outlives the test) and removes the directory.
func withLaunchedSuite(
  environment: (TestDirectory) throws -> [String: String] = { _ in [:] },
  _ body: (LaunchedSuite) async throws -> Void
) async throws {
  let directory = try TestDirectory()
  defer { directory.remove() }
  let suite = try await LaunchedSuite.start(in: directory, environment: try environment(directory))
  do {
    try await body(suite)
  } catch {
    try? await suite.stop()
    throw error
  }
  try await suite.stop()
}

/// Runs the built `privacyctl` with `arguments` and only `environment` (plus PATH and HOME), and
/// collects its exit status and output.
///
/// Started with `posix_spawn` rather than Foundation's `Process`: on Linux `Process.run()` crashes
/// intermittently (an over-read of `/proc/self/fd` entries, swift-corelibs-foundation PR 5472),
/// and these tests start many short-lived processes. Output goes to files, so no blocking pipe read
/// holds a thread of the test's concurrency pool.
func runPrivacyCtl(_ arguments: [String], environment: [String: String], directory: TestDirectory) async throws -> CLIResult {
  let executable = binDirectory.appendingPathComponent("privacyctl").path
  guard FileManager.default.isExecutableFile(atPath: executable) else {
    throw TestFailure("\(executable) is not built; run swift build --build-tests first")
  }
  let name = UUID().uuidString
  let outputPath = directory.path("ctl-\(name).out")
  let errorPath = directory.path("ctl-\(name).err")
  var inherited = ProcessInfo.processInfo.environment.filter { $0.key == "PATH" || $0.key == "HOME" }
  inherited.merge(environment) { _, new in new }

  let pid = try spawn(executable, arguments: arguments, environment: inherited, standardOutput: outputPath, standardError: errorPath)
  let status = try await waitForExit(pid, timeout: .seconds(60), what: "privacyctl \(arguments.joined(separator: " "))")
  return CLIResult(
    status: status,
    standardOutput: try String(contentsOfFile: outputPath, encoding: .utf8),
    standardError: try String(contentsOfFile: errorPath, encoding: .utf8)
  )
}

/// Waits for `pid` without blocking a thread; returns its exit code (128 + signal when killed).
private func waitForExit(_ pid: pid_t, timeout: Duration, what: String) async throws -> Int32 {
  let deadline = ContinuousClock.now + timeout
  var status: Int32 = 0
  while true {
    let waited = waitpid(pid, &status, WNOHANG)
    if waited == pid { break }
    guard waited == 0 else { throw TestFailure("waitpid \(pid) failed: \(String(cString: strerror(errno)))") }
    guard ContinuousClock.now < deadline else {
      kill(pid, SIGKILL)
      _ = waitpid(pid, &status, 0)
      throw TestFailure("\(what) did not finish within \(timeout)")
    }
    try await Task.sleep(for: .milliseconds(10))
  }
  let signal = status & 0x7f
  return signal == 0 ? (status >> 8) & 0xff : 128 + signal
}
