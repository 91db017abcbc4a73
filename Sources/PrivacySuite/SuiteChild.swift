import Foundation
import Logging
import PrivacyKit
import Synchronization

/// One executable of the suite: started with its environment, watched, restarted with backoff
/// when it dies (on the port it first bound), stopped with SIGTERM.
final class SuiteChild: Sendable {
  let name: String
  private let executable: URL
  private let logger: Logger
  /// What the process prints first once it works, followed by `HOST:PORT`: `listening on ` for a
  /// server, `relaying to ` for the mail relay (the mail server it sends to).
  private let readyPrefix: String

  private struct State {
    var environment: [String: String]
    var process: SpawnedProcess?
    var stopping = false
    var failures = 0
    var startedAt = Date()
    var address: ServiceAddress?
    var healthAddress: ServiceAddress?
  }

  private let state: Mutex<State>

  init(name: String, executable: URL, environment: [String: String], logger: Logger, readyPrefix: String = "listening on ") {
    self.name = name
    self.executable = executable
    self.logger = logger
    self.readyPrefix = readyPrefix
    self.state = Mutex(State(environment: environment))
  }

  var address: ServiceAddress? { state.withLock { $0.address } }
  /// Where the health-only port listens (with `HEALTH_PORT`), once started.
  var healthAddress: ServiceAddress? { state.withLock { $0.healthAddress } }

  /// Starts the process and waits for its `listening on HOST:PORT` line (or its own ready line), and its
  /// `health on HOST:PORT` line when it has a health-only port.
  func start() async throws -> ServiceAddress {
    let environment = state.withLock { $0.environment }
    let process = try SpawnedProcess(executable: executable.path, environment: environment) { [weak self] status in
      self?.exited(status: status)
    }
    state.withLock {
      $0.process = process
      $0.startedAt = Date()
      $0.healthAddress = nil
    }

    let lines = process.lines
    let wantsHealth = environment["HEALTH_PORT"] != nil
    var address: ServiceAddress?
    for await line in lines {
      if address == nil, let bound = Self.address(line, after: readyPrefix) {
        address = bound
        state.withLock { state in
          state.address = bound
          state.environment["GRPC_PORT"] = String(bound.port)  // restarts keep the port
        }
      } else if address != nil, let bound = Self.address(line, after: "health on ") {
        state.withLock { state in
          state.healthAddress = bound
          state.environment["HEALTH_PORT"] = String(bound.port)
        }
      } else {
        FileHandle.standardError.write(Data("[\(name)] \(line)\n".utf8))
      }
      if let address, !wantsHealth || healthAddress != nil {
        Task { for await line in lines { FileHandle.standardError.write(Data("[\(self.name)] \(line)\n".utf8)) } }
        return address
      }
    }
    throw SuiteError.exitedBeforeListening(name)
  }

  private static func address(_ line: String, after prefix: String) -> ServiceAddress? {
    line.hasPrefix(prefix) ? ServiceAddress(String(line.dropFirst(prefix.count))) : nil
  }

  /// Called when the process ends: restart unless the suite is stopping.
  private func exited(status: Int32) {
    let delay: Double? = state.withLock { state in
      state.process = nil
      if state.stopping { return nil }
      state.failures = Date().timeIntervalSince(state.startedAt) > 60 ? 1 : state.failures + 1
      return min(30, pow(2, Double(state.failures - 1)))
    }
    guard let delay else { return }
    logger.warning(
      "service exited; restarting",
      metadata: ["service": "\(name)", "exit.status": "\(describeWaitStatus(status))", "restart.delay_s": "\(delay)"])
    Task {
      try? await Task.sleep(for: .seconds(delay))
      guard !self.state.withLock({ $0.stopping }) else { return }
      do {
        _ = try await self.start()
        self.logger.info("service restarted", metadata: ["service": "\(self.name)"])
      } catch {
        self.logger.error("service failed to restart", metadata: ["service": "\(self.name)", "error": "\(error)"])
      }
    }
  }

  /// Asks the process to drain (SIGTERM); after `grace`, kills it.
  func stop(grace: Duration = .seconds(35)) async {
    let process = state.withLock { state -> SpawnedProcess? in
      state.stopping = true
      return state.process
    }
    guard let process, process.isRunning else { return }
    process.send(SIGTERM)
    let deadline = ContinuousClock.now + grace
    while process.isRunning && ContinuousClock.now < deadline {
      try? await Task.sleep(for: .milliseconds(50))
    }
    process.send(SIGKILL)
  }

  /// The running process id, for tests and operators.
  var processIdentifier: Int32? { state.withLock { $0.process?.pid } }
}

enum SuiteError: Error, CustomStringConvertible {
  case exitedBeforeListening(String)
  case notHealthy(String, HealthProbe.Outcome)
  case missingExecutable(String)
  case noFreePort

  var description: String {
    switch self {
    case .exitedBeforeListening(let name): "\(name) exited before it listened (see its messages above)"
    case .notHealthy(let name, let outcome): "\(name) did not become healthy: \(outcome)"
    case .missingExecutable(let path): "executable not found: \(path) (build the package first: swift build -c release)"
    case .noFreePort: "no free port on 127.0.0.1 for the preference center"
    }
  }
}
