public import GRPCCore

/// How a unary method is served without a task per call: the request's message (or why the
/// transport refused it) and metadata are handed over on the connection's event loop, and the
/// answer goes back through `reply`, exactly once.
///
/// A method that answers from memory (CheckConsent) replies before it returns: the whole
/// response leaves with the read burst's flush. One that must wait (the gateway's checks, for
/// their audit entry's commit) keeps `reply` and calls it later from any thread; the transport
/// then ends the call with DEADLINE_EXCEEDED if the caller's `grpc-timeout` passes first, and
/// drops the reply if the client reset the stream or the connection closed meanwhile. Either way
/// the answer must not block or wait while it runs: no other stream of the event loop's
/// connections moves until it returns. A reset of the stream before the request ends means it
/// never runs.
public typealias EventLoopAnswer =
  @Sendable (_ request: Result<[UInt8], RPCError>, _ metadata: Metadata, _ reply: UnaryReply) -> Void

/// A unary call's response: the message and the metadata sent in the response headers.
public struct UnaryResponse: Sendable {
  public var message: [UInt8]
  public var metadata: Metadata

  public init(message: [UInt8], metadata: Metadata = [:]) {
    self.message = message
    self.metadata = metadata
  }
}

/// Sends an event-loop method's answer (see `EventLoopAnswer`). Only the first reply counts.
public struct UnaryReply: Sendable {
  private let deliver: @Sendable (Result<UnaryResponse, RPCError>) -> Void

  public init(_ deliver: @escaping @Sendable (Result<UnaryResponse, RPCError>) -> Void) {
    self.deliver = deliver
  }

  public func callAsFunction(_ result: Result<UnaryResponse, RPCError>) { deliver(result) }
}

/// An event-loop method's request as its stream collects it.
struct EventLoopRequest {
  let method: MethodDescriptor
  let answer: EventLoopAnswer
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
