import Foundation

/// The process's limit on open files, which bounds how many connections a server can hold.
enum OpenFileLimit {
  /// Files kept for everything but connections: the database, logs, the listening sockets,
  /// clients to other services.
  static let reserved = 128

  /// Raises the soft limit to the hard one (distributions often start services at 1,024 while
  /// allowing far more) and returns the soft limit in force.
  static func raise() -> Int {
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
    if limit.rlim_cur < limit.rlim_max {
      var raised = limit
      raised.rlim_cur = limit.rlim_max
      if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
    }
    return Int(clamping: limit.rlim_cur)
  }

  /// The most connections a server can hold with `limit` open files.
  static func connectionCapacity(_ limit: Int) -> Int {
    max(1, limit - reserved)
  }
}
