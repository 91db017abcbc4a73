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
final class RunningProcess: Sendable {
  let process: Process
  private struct Output {
    var lines: [String] = []
    var partial = Data()
    var closed = false
    var read = 0
    var errors = Data()
  }

  /// Shared with the pipe handlers, which outlive no one but need their own reference.
  private final class OutputBox: Sendable {
    let state = Mutex(Output())
  }

  private let box = OutputBox()

  convenience init(_ name: String, arguments: [String] = [], environment: [String: String]) throws {
    try self.init(executable: binDirectory.appendingPathComponent(name), arguments: arguments, environment: environment)
  }

  init(executable: URL, arguments: [String] = [], environment: [String: String]) throws {
    guard FileManager.default.isExecutableFile(atPath: executable.path) else {
      throw TestFailure("\(executable.path) is not built; run swift build --build-tests first")
    }
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    var inherited = ProcessInfo.processInfo.environment.filter { $0.key == "PATH" || $0.key == "HOME" }
    inherited.merge(environment) { _, new in new }
    process.environment = inherited
    let standardOutput = Pipe()
    let standardError = Pipe()
    process.standardOutput = standardOutput
    process.standardError = standardError
    let box = self.box
    standardOutput.fileHandleForReading.readabilityHandler = { handle in
      let chunk = handle.availableData
      box.state.withLock { output in
        if chunk.isEmpty {
          output.closed = true
          return
        }
        output.partial.append(chunk)
        while let newline = output.partial.firstIndex(of: 0x0A) {
          output.lines.append(String(decoding: output.partial[output.partial.startIndex..<newline], as: UTF8.self))
          output.partial.removeSubrange(output.partial.startIndex...newline)
        }
      }
      if chunk.isEmpty { handle.readabilityHandler = nil }
    }
    standardError.fileHandleForReading.readabilityHandler = { handle in
      let chunk = handle.availableData
      if chunk.isEmpty { handle.readabilityHandler = nil } else { box.state.withLock { $0.errors.append(chunk) } }
    }
    try process.run()
    self.process = process
  }

  /// The next line on standard output, or nil when it closed or `timeout` passed.
  func nextLine(timeout: Duration = .seconds(30)) async -> String? {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
      let (line, closed) = box.state.withLock { output -> (String?, Bool) in
        guard output.read < output.lines.count else { return (nil, output.closed) }
        output.read += 1
        return (output.lines[output.read - 1], false)
      }
      if let line { return line }
      if closed { return nil }
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

  var standardError: String { box.state.withLock { String(decoding: $0.errors, as: UTF8.self) } }

  func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

  /// Waits for the process to end and returns its exit status (or the signal that ended it).
  func waitForExit(timeout: Duration = .seconds(40)) async throws -> Int32 {
    let deadline = ContinuousClock.now + timeout
    while process.isRunning {
      guard ContinuousClock.now < deadline else { throw TestFailure("process did not exit") }
      try await Task.sleep(for: .milliseconds(20))
    }
    return process.terminationStatus
  }

  deinit {
    if process.isRunning { kill(process.processIdentifier, SIGKILL) }
  }
}

struct TestFailure: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}

/// The environment every backend needs to start in a test (secrets included).
func serviceEnvironment(_ directory: TestDirectory, _ name: String, extra: [String: String] = [:]) -> [String: String] {
  testEnvironment(database: directory.path("\(name).sqlite"), extra: [
    "VAULT_MASTER_KEY": Data(repeating: 7, count: 32).base64EncodedString(),
    "BLOCKLIST_PEPPER": Data(repeating: 9, count: 32).base64EncodedString(),
  ].merging(extra) { _, new in new })
}
