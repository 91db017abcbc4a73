public import GRPCCore

/// How a unary method whose handler answers from memory at once is served on the connection's
/// event loop, with no task per call: the request's message (or why the transport refused it) and
/// metadata in, the response message or an error out, all before the event loop reads on.
///
/// The answer must not block or wait (no I/O, no lock held for long): while it runs, no other
/// stream of the event loop's connections moves. A deadline cannot pass while it runs, so none is
/// kept; a reset of the stream before the request ends means it never runs.
public typealias SynchronousAnswer =
  @Sendable (_ request: Result<[UInt8], RPCError>, _ metadata: Metadata) -> Result<[UInt8], RPCError>

/// A synchronous method's request as its stream collects it.
struct SynchronousRequest {
  let method: MethodDescriptor
  let answer: SynchronousAnswer
  let metadata: Metadata
  /// The one request message, once complete.
  var message: [UInt8]?
  /// Request bytes received and not yet answered, counted against the connection's budget.
  var held = 0

  /// The request as the answer sees it once the client has ended it.
  var complete: Result<[UInt8], RPCError> {
    guard let message else { return .failure(Self.cardinality(method, got: "none")) }
    return .success(message)
  }

  /// gRPC's status for a unary method given other than one request message.
  static func cardinality(_ method: MethodDescriptor, got: String) -> RPCError {
    RPCError(code: .unimplemented, message: "\(method.method) takes exactly one request message, got \(got)")
  }
}
