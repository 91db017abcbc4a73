import Foundation
import Synchronization

/// A child process started with `posix_spawn`, its standard output read line by line.
///
/// Not Foundation's `Process`: on Linux `Process.run()` intermittently crashes a process that
/// starts children while other threads are busy (swift-corelibs-foundation's spawn path), and the
/// launcher starts five of them and restarts them. Standard input is /dev/null, standard error
/// is the launcher's own.
final class SpawnedProcess: Sendable {
  let pid: pid_t
  /// Standard output, one element per line, finished at end of file.
  let lines: AsyncStream<String>
  private let exitStatus = Mutex<Int32?>(nil)

  /// Starts `executable`; `onExit` runs once, on a background thread, with the raw wait status.
  init(executable: String, environment: [String: String], onExit: @escaping @Sendable (Int32) -> Void) throws {
    let (pid, readEnd) = try Self.spawnLock.withLock { _ in try Self.spawn(executable, environment: environment) }
    self.pid = pid

    let (lines, continuation) = AsyncStream.makeStream(of: String.self)
    self.lines = lines
    Thread.detachNewThread { Self.readLines(from: readEnd, into: continuation) }
    // The waiting thread keeps the object alive until the child is reaped.
    Thread.detachNewThread { [self] in
      var status: Int32 = 0
      while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
      exitStatus.withLock { $0 = status }
      onExit(status)
    }
  }

  /// Held from creating the pipe to closing the parent's copy of its write end, so that no other
  /// child spawned meanwhile inherits it (Glibc's `pipe2` is not visible to Swift, so the ends
  /// get close-on-exec in a second step).
  private static let spawnLock = Mutex(())

  /// Spawns `executable` with its standard output into a new pipe; returns the pid and the
  /// pipe's read end.
  private static func spawn(_ executable: String, environment: [String: String]) throws -> (pid_t, Int32) {
    var pipeEnds: [Int32] = [0, 0]
    guard pipe(&pipeEnds) == 0 else { throw SpawnError(executable: executable, code: errno) }
    let (readEnd, writeEnd) = (pipeEnds[0], pipeEnds[1])
    _ = fcntl(readEnd, F_SETFD, FD_CLOEXEC)
    _ = fcntl(writeEnd, F_SETFD, FD_CLOEXEC)

    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    // dup2 clears close-on-exec on the child's standard output only.
    posix_spawn_file_actions_adddup2(&actions, writeEnd, 1)

    let argv = [strdup(executable)] + [nil]
    let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { (argv + envp).forEach { free($0) } }
    var pid: pid_t = 0
    let result = posix_spawn(&pid, executable, &actions, nil, argv, envp)
    close(writeEnd)
    guard result == 0 else {
      close(readEnd)
      throw SpawnError(executable: executable, code: result)
    }
    return (pid, readEnd)
  }

  /// Whether the process has not yet been reaped.
  var isRunning: Bool { exitStatus.withLock { $0 == nil } }

  /// Sends `signal` unless the process has already been reaped (its pid may be reused).
  func send(_ signal: Int32) {
    exitStatus.withLock { status in
      if status == nil { kill(pid, signal) }
    }
  }

  /// Blocking reads until end of file, yielding each complete line.
  private static func readLines(from descriptor: Int32, into continuation: AsyncStream<String>.Continuation) {
    defer {
      close(descriptor)
      continuation.finish()
    }
    var pending: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
      let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
      if count < 0 && errno == EINTR { continue }
      guard count > 0 else { break }
      pending.append(contentsOf: chunk[0..<count])
      while let newline = pending.firstIndex(of: 0x0A) {
        continuation.yield(String(decoding: pending[..<newline], as: UTF8.self))
        pending.removeSubrange(...newline)
      }
    }
    if !pending.isEmpty { continuation.yield(String(decoding: pending, as: UTF8.self)) }
  }
}

/// Describes an exit the way a shell would: `exit 3` or `signal 9`.
func describeWaitStatus(_ status: Int32) -> String {
  let signal = status & 0x7F
  return signal == 0 ? "exit \((status >> 8) & 0xFF)" : "signal \(signal)"
}

struct SpawnError: Error, CustomStringConvertible {
  var executable: String
  var code: Int32
  var description: String { "could not start \(executable): \(String(cString: strerror(code)))" }
}
