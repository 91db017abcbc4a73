import GRPCCore
import PrivacyKit

/// How a failed call is shown: `error: <STATUS_NAME>: <message>`, plus the ErrorInfo reason when
/// the status carries one (the part a script branches on).
enum Failure {
  /// Exit status of a command whose call failed (usage errors exit 64, as ArgumentParser does).
  static let rpcExitCode: Int32 = 1

  static func line(for error: RPCError) -> String {
    var text = "error: \(error.code.canonicalName): \(error.message)"
    if let reason = error.errorInfoReason { text += " (reason: \(reason))" }
    return text
  }
}

/// A failure on this side of the call (a file that cannot be written), shown as `error: <message>`
/// with the exit status of a failed call.
struct LocalFailure: Error, CustomStringConvertible {
  var description: String

  init(_ description: String) {
    self.description = description
  }
}
