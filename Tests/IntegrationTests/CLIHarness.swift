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
struct RunningSuite {
  let process: RunningProcess
  let directory: TestDirectory
  /// `PRIVACY_GATEWAY_ADDR` as printed by the launcher.
  let gatewayAddress: String
  /// The printed dev key (role dpo); nil when the test gave its own keys file.
  let devAPIKey: String?

  /// Starts the suite in `directory/data` and waits for its announcement.
  static func start(in directory: TestDirectory, environment: [String: String] = [:]) async throws -> RunningSuite {
    let process = try RunningProcess(
      "privacy-suite", arguments: ["--data-dir", directory.path("data"), "--ephemeral-ports"], environment: environment)
    var exports: [String: String] = [:]
    var gateway: String?
    while let line = await process.nextLine(timeout: .seconds(90)), !line.hasPrefix("Press Ctrl-C") {
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
    return RunningSuite(process: process, directory: directory, gatewayAddress: gateway, devAPIKey: exports["PRIVACY_API_KEY"])
  }

  /// Runs `privacyctl` against this suite's gateway with `apiKey` (default: the dev key).
  func ctl(_ arguments: String..., apiKey: String? = nil) async throws -> CLIResult {
    var environment = ["PRIVACY_GATEWAY_ADDR": gatewayAddress]
    if let key = apiKey ?? devAPIKey { environment["PRIVACY_API_KEY"] = key }
    return try await runPrivacyCtl(arguments, environment: environment, directory: directory)
  }

  /// Stops the suite with SIGINT, as an operator would.
  func stop() async throws {
    process.signal(SIGINT)
    #expect(try await process.waitForExit() == 0)
  }
}

/// Runs the built `privacyctl` with `arguments` and only `environment` (plus PATH and HOME), and
/// collects its exit status and output. Output goes through files so a blocking pipe read never
/// holds a thread of the test's concurrency pool.
func runPrivacyCtl(_ arguments: [String], environment: [String: String], directory: TestDirectory) async throws -> CLIResult {
  let executable = binDirectory.appendingPathComponent("privacyctl")
  guard FileManager.default.isExecutableFile(atPath: executable.path) else {
    throw TestFailure("\(executable.path) is not built; run swift build --build-tests first")
  }
  let name = UUID().uuidString
  let outputPath = directory.path("ctl-\(name).out")
  let errorPath = directory.path("ctl-\(name).err")
  guard FileManager.default.createFile(atPath: outputPath, contents: nil), FileManager.default.createFile(atPath: errorPath, contents: nil) else {
    throw TestFailure("cannot create output files in \(directory.url.path)")
  }
  let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
  let error = try FileHandle(forWritingTo: URL(fileURLWithPath: errorPath))
  defer {
    try? output.close()
    try? error.close()
  }
  let process = Process()
  process.executableURL = executable
  process.arguments = arguments
  var inherited = ProcessInfo.processInfo.environment.filter { $0.key == "PATH" || $0.key == "HOME" }
  inherited.merge(environment) { _, new in new }
  process.environment = inherited
  process.standardOutput = output
  process.standardError = error
  process.standardInput = FileHandle.nullDevice
  try process.run()
  let deadline = ContinuousClock.now + .seconds(60)
  while process.isRunning {
    guard ContinuousClock.now < deadline else {
      process.terminate()
      throw TestFailure("privacyctl \(arguments.joined(separator: " ")) did not finish")
    }
    try await Task.sleep(for: .milliseconds(10))
  }
  return CLIResult(
    status: process.terminationStatus,
    standardOutput: try String(contentsOfFile: outputPath, encoding: .utf8),
    standardError: try String(contentsOfFile: errorPath, encoding: .utf8)
  )
}
