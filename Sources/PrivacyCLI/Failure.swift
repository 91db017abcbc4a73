import GRPCCore
import GRPCProtobuf

/// How a failed call is shown: `error: <STATUS_NAME>: <message>`, plus the ErrorInfo reason when
/// the status carries one (the part a script branches on).
enum Failure {
  /// Exit status of a command whose call failed (usage errors exit 64, as ArgumentParser does).
  static let rpcExitCode: Int32 = 1

  static func line(for error: RPCError) -> String {
    var text = "error: \(statusName(error.code.rawValue)): \(error.message)"
    if let reason = errorInfoReason(error) { text += " (reason: \(reason))" }
    return text
  }

  /// The canonical gRPC name of a status code, as in the gRPC specification.
  static func statusName(_ code: Int) -> String {
    let names = [
      "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
      "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
      "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
    ]
    return names.indices.contains(code) ? names[code] : "CODE_\(code)"
  }

  private static func errorInfoReason(_ error: RPCError) -> String? {
    guard let status = try? error.unpackGoogleRPCStatus() else { return nil }
    return status.details.lazy.compactMap { $0.errorInfo?.reason }.first { !$0.isEmpty }
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
