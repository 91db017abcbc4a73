import Foundation
import PrivacyKit
import PrivacyTesting
import Synchronization
import Testing

/// Where the built executables are: next to the test bundle, or `PRIVACY_BIN_DIR`.
let binDirectory: URL = {
  if let override = ProcessInfo.processInfo.environment["PRIVACY_BIN_DIR"] { return URL(fileURLWithPath: override) }
  return URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
}()

/// A real executable of the suite, started for a test.
///
/// Started with `posix_spawn` rather than Foundation's `Process`: on Linux `Process.run()` crashes
/// intermittently (an over-read of `/proc/self/fd` entries, swift-corelibs-foundation PR 5472),
/// which takes the whole test binary down. Standard output and error go to files that are read
/// back, so no blocking pipe read holds a thread of the test's concurrency pool.
final class RunningProcess: Sendable {
  let pid: pid_t
  private let outputPath: String
  private let errorPath: String
  private struct State {
    /// Lines of standard output already handed out by `nextLine`.
    var consumed = 0
    /// The exit status once the process has been reaped.
    var exitStatus: Int32?
  }
  private let state = Mutex(State())

  convenience init(_ name: String, arguments: [String] = [], environment: [String: String]) throws {
    try self.init(executable: binDirectory.appendingPathComponent(name), arguments: arguments, environment: environment)
  }

  init(executable: URL, arguments: [String] = [], environment: [String: String]) throws {
    guard FileManager.default.isExecutableFile(atPath: executable.path) else {
      throw TestFailure("\(executable.path) is not built; run swift build --build-tests first")
    }
    let base = FileManager.default.temporaryDirectory.appendingPathComponent("privacy-process-\(UUID().uuidString)").path
    outputPath = base + ".out"
    errorPath = base + ".err"
    var inherited = ProcessInfo.processInfo.environment.filter { $0.key == "PATH" || $0.key == "HOME" }
    inherited.merge(environment) { _, new in new }
    pid = try spawn(executable.path, arguments: arguments, environment: inherited, standardOutput: outputPath, standardError: errorPath)
  }

  /// True until the process has exited.
  var isRunning: Bool { reap() == nil }

  /// Reaps the process if it has exited; its exit status (128 + signal when killed), or nil.
  @discardableResult
  private func reap() -> Int32? {
    state.withLock { state in
      if let status = state.exitStatus { return status }
      var status: Int32 = 0
      guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
      let signal = status & 0x7f
      state.exitStatus = signal == 0 ? (status >> 8) & 0xff : 128 + signal
      return state.exitStatus
    }
  }

  /// The next line on standard output, or nil when the process ended without one or `timeout` passed.
  func nextLine(timeout: Duration = .seconds(30)) async -> String? {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
      let exited = !isRunning
      let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
      let lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
      let line: String? = state.withLock { state in
        guard state.consumed < lines.count else { return nil }
        state.consumed += 1
        return lines[state.consumed - 1]
      }
      if let line { return line }
      if exited { return nil }
      try? await Task.sleep(for: .milliseconds(20))
    }
    return nil
  }

  /// Reads `listening on HOST:PORT` and returns the address.
  func listeningAddress() async throws -> ServiceAddress {
    guard let line = await nextLine() else { throw TestFailure("no output; stderr: \(standardError)") }
    guard line.hasPrefix("listening on "), let address = ServiceAddress(String(line.dropFirst(13))) else {
      throw TestFailure("first line was \(line)")
    }
    return address
  }

  var standardError: String { (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? "" }
  var standardOutput: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }

  func signal(_ signal: Int32) { kill(pid, signal) }

  /// Waits for the process to end and returns its exit status (128 + signal when killed).
  func waitForExit(timeout: Duration = .seconds(40)) async throws -> Int32 {
    let deadline = ContinuousClock.now + timeout
    while true {
      if let status = reap() { return status }
      guard ContinuousClock.now < deadline else { throw TestFailure("process did not exit") }
      try await Task.sleep(for: .milliseconds(20))
    }
  }

  deinit {
    if reap() == nil {
      kill(pid, SIGKILL)
      var status: Int32 = 0
      _ = waitpid(pid, &status, 0)
    }
    try? FileManager.default.removeItem(atPath: outputPath)
    try? FileManager.default.removeItem(atPath: errorPath)
  }
}

struct TestFailure: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}

/// The vault master key and blocklist pepper the backends run with in tests.
let testVaultMasterKey = Data(repeating: 7, count: 32).base64EncodedString()
let testBlocklistPepper = Data(repeating: 9, count: 32).base64EncodedString()

/// The environment every backend needs to start in a test (secrets included).
func serviceEnvironment(_ directory: TestDirectory, _ name: String, extra: [String: String] = [:]) -> [String: String] {
  testEnvironment(database: directory.path("\(name).sqlite"), extra: [
    "VAULT_MASTER_KEY": testVaultMasterKey,
    "BLOCKLIST_PEPPER": testBlocklistPepper,
  ].merging(extra) { _, new in new })
}
