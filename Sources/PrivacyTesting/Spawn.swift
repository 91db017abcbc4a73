public import Foundation

/// Starts `executable` with standard input from /dev/null and standard output and error into new
/// files.
///
/// Not Foundation's `Process`: on Linux `Process.run()` now and then crashes a test process whose
/// other threads open and close descriptors meanwhile (an over-read of `/proc/self/fd` entries,
/// swift-corelibs-foundation PR 5472), which takes the whole test binary down.
public func spawn(
  _ executable: String, arguments: [String], environment: [String: String], standardOutput: String, standardError: String
) throws -> pid_t {
  var actions = posix_spawn_file_actions_t()
  posix_spawn_file_actions_init(&actions)
  defer { posix_spawn_file_actions_destroy(&actions) }
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
  posix_spawn_file_actions_addopen(&actions, 1, standardOutput, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
  posix_spawn_file_actions_addopen(&actions, 2, standardError, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
  // Nothing else the test process holds: an inherited copy of a test server's accepted socket
  // (SwiftNIO accepts without close-on-exec) would keep that connection open after the server
  // closed it.
  closeInheritedDescriptors(&actions)

  // Signals as a shell would leave them: none blocked (the spawning thread is one of the test
  // process's, whose mask may block SIGTERM, and a child inherits it) and SIGTERM and SIGINT at
  // their default action, so a child that installs no handler of its own stops when told.
  var attributes = posix_spawnattr_t()
  posix_spawnattr_init(&attributes)
  defer { posix_spawnattr_destroy(&attributes) }
  var noneBlocked = sigset_t()
  sigemptyset(&noneBlocked)
  posix_spawnattr_setsigmask(&attributes, &noneBlocked)
  var defaults = sigset_t()
  sigemptyset(&defaults)
  sigaddset(&defaults, SIGTERM)
  sigaddset(&defaults, SIGINT)
  posix_spawnattr_setsigdefault(&attributes, &defaults)
  posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

  let argv = ([executable] + arguments).map { strdup($0) } + [nil]
  let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
  defer { (argv + envp).forEach { free($0) } }
  var pid: pid_t = 0
  let result = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
  guard result == 0 else { throw SpawnFailed(description: "posix_spawn \(executable) failed: \(String(cString: strerror(result)))") }
  return pid
}

/// What a command run to completion left behind.
public struct CommandResult: Sendable {
  /// The exit status; -1 when it ended by a signal.
  public let status: Int32
  public let output: Data
  public let errors: Data
}

/// Runs `executable` to completion with the test process's environment, blocking the calling
/// thread: call it off the cooperative pool, whose blocked threads would starve the in-process
/// servers the command talks to.
public func runCommand(_ executable: String, _ arguments: [String]) throws -> CommandResult {
  let directory = FileManager.default.temporaryDirectory.appendingPathComponent("command-\(UUID().uuidString)")
  try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
  defer { try? FileManager.default.removeItem(at: directory) }
  let outputPath = directory.appendingPathComponent("out").path
  let errorPath = directory.appendingPathComponent("err").path
  let pid = try spawn(
    executable, arguments: arguments, environment: ProcessInfo.processInfo.environment, standardOutput: outputPath,
    standardError: errorPath)
  var status: Int32 = 0
  while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
  let exited = status & 0x7f == 0
  return CommandResult(
    status: exited ? (status >> 8) & 0xff : -1, output: FileManager.default.contents(atPath: outputPath) ?? Data(),
    errors: FileManager.default.contents(atPath: errorPath) ?? Data())
}

public struct SpawnFailed: Error, CustomStringConvertible {
  public let description: String
}

/// Adds glibc's `posix_spawn_file_actions_addclosefrom_np(actions, 3)`, which Swift's Glibc
/// module does not export.
private func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) {
  typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
  guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return }
  _ = unsafeBitCast(symbol, to: CloseFrom.self)(&actions, 3)
}
