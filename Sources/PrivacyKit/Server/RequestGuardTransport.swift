public import GRPCCore
public import Logging
import PrivacyWire

/// Wraps a server transport so that every stream passes the checks no handler should have to
/// make, before GRPCCore or a handler reads it:
/// - a `grpc-timeout` outside gRPC's grammar (1-8 digits and a unit) is answered INVALID_ARGUMENT:
///   GRPCCore (grpc-swift-2 2.4.3) traps on a negative amount such as `-1S`, which would end the
///   process with no credential needed;
/// - a request message above `maxMessageBytes` is RESOURCE_EXHAUSTED, checked on the raw bytes;
/// - a method that takes one request message gets exactly one, or UNIMPLEMENTED (gRPC's status
///   for a request-cardinality violation; GRPCCore itself would answer INTERNAL).
///
/// It works on any transport; the HTTP/2 limits below it (header size, the transport's own
/// message cap) stay the transport's.
public struct RequestGuardTransport<Base: ServerTransport>: ServerTransport {
  public typealias Bytes = Base.Bytes

  /// The wrapped transport.
  public let base: Base
  private let rules: RequestRules
  private let logger: Logger

  public init(_ base: Base, rules: RequestRules, logger: Logger) {
    self.base = base
    self.rules = rules
    self.logger = logger
  }

  public func configure(context: GRPCServerContext) {
    base.configure(context: context)
  }

  public func listen(
    streamHandler: @escaping @Sendable (_ stream: RPCStream<Inbound, Outbound>, _ context: ServerContext) async -> Void
  ) async throws {
    let rules = self.rules
    let logger = self.logger
    try await base.listen { stream, context in
      let iterator = InboundIterator(stream.inbound.makeAsyncIterator())
      let first: Result<RPCRequestPart<Bytes>?, any Error>
      do { first = .success(try await iterator.next()) } catch { first = .failure(error) }
      if case .success(.metadata(let metadata)) = first,
        let problem = rules.refusal(of: metadata, method: stream.descriptor, logger: logger)
      {
        try? await stream.outbound.write(.status(Status(code: Status.Code(problem.code), message: problem.message), [:]))
        await stream.outbound.finish()
        return
      }
      let inbound = CheckedInbound(
        first: first, rest: iterator, method: stream.descriptor, maxMessageBytes: rules.maxMessageBytes,
        singleMessage: !rules.streamsRequests(stream.descriptor))
      await streamHandler(
        RPCStream(descriptor: stream.descriptor, inbound: RPCAsyncSequence(wrapping: inbound), outbound: stream.outbound),
        context)
    }
  }

  public func beginGracefulShutdown() {
    base.beginGracefulShutdown()
  }
}

/// What `RequestGuardTransport` enforces.
public struct RequestRules: Sendable {
  /// Largest request message accepted.
  public var maxMessageBytes: Int
  /// Methods whose clients stream several request messages (by full name: a transport's
  /// descriptors do not carry the RPC type); every other method takes exactly one.
  public var streamingRequestMethods: Set<String>

  public init(maxMessageBytes: Int, streamingRequestMethods: Set<MethodDescriptor> = []) {
    self.maxMessageBytes = maxMessageBytes
    self.streamingRequestMethods = Set(streamingRequestMethods.map(\.fullyQualifiedMethod))
  }

  func streamsRequests(_ method: MethodDescriptor) -> Bool {
    streamingRequestMethods.contains(method.fullyQualifiedMethod)
  }

  /// Why a call with these request headers is refused before it runs, logged; nil to run it.
  func refusal(of metadata: Metadata, method: MethodDescriptor, logger: Logger) -> RPCError? {
    guard let problem = problem(with: metadata) else { return nil }
    logger.info(
      "call refused", metadata: ["rpc.method": "\(method.fullyQualifiedMethod)", "rpc.code": "\(problem.code.canonicalName)"])
    return problem
  }

  private func problem(with metadata: Metadata) -> RPCError? {
    for value in metadata[stringValues: "grpc-timeout"] where !GRPCTimeout.isWellFormed(value) {
      return RPCError(
        code: .invalidArgument, message: "grpc-timeout must be 1-8 digits followed by a unit (H, M, S, m, u or n)")
    }
    return nil
  }
}

/// A stream's inbound iterator, shared between the guard that reads the first part and the
/// sequence that hands out the rest. Only one task iterates a stream at a time (GRPCCore's
/// executor, after the guard), which is what makes the unchecked sendability sound.
final class InboundIterator<Bytes: GRPCContiguousBytes & Sendable>: @unchecked Sendable {
  private var base: RPCAsyncSequence<RPCRequestPart<Bytes>, any Error>.AsyncIterator

  init(_ base: RPCAsyncSequence<RPCRequestPart<Bytes>, any Error>.AsyncIterator) {
    self.base = base
  }

  func next() async throws -> RPCRequestPart<Bytes>? {
    try await base.next()
  }
}

/// The request parts of one stream after its first part was read: that part, then the rest, each
/// message checked for size and, for single-message methods, for count.
struct CheckedInbound<Bytes: GRPCContiguousBytes & Sendable>: AsyncSequence, Sendable {
  typealias Element = RPCRequestPart<Bytes>
  typealias Failure = any Error

  let first: Result<RPCRequestPart<Bytes>?, any Error>
  let rest: InboundIterator<Bytes>
  let method: MethodDescriptor
  let maxMessageBytes: Int
  let singleMessage: Bool

  func makeAsyncIterator() -> Iterator {
    Iterator(sequence: self)
  }

  struct Iterator: AsyncIteratorProtocol {
    let sequence: CheckedInbound
    var firstPending = true
    var sawMetadata = false
    var messages = 0

    mutating func next() async throws -> RPCRequestPart<Bytes>? {
      let part: RPCRequestPart<Bytes>?
      if firstPending {
        firstPending = false
        part = try sequence.first.get()
      } else {
        part = try await sequence.rest.next()
      }
      switch part {
      case .message(let bytes):
        messages += 1
        if bytes.count > sequence.maxMessageBytes {
          throw RPCError(
            code: .resourceExhausted,
            message: "request message of \(bytes.count) bytes exceeds the limit of \(sequence.maxMessageBytes) bytes")
        }
        if sequence.singleMessage && messages > 1 {
          throw RPCError(code: .unimplemented, message: "\(sequence.method.method) takes exactly one request message, got more")
        }
      case nil where sequence.singleMessage && sawMetadata && messages == 0:
        throw RPCError(code: .unimplemented, message: "\(sequence.method.method) takes exactly one request message, got none")
      case .metadata:
        sawMetadata = true
      case nil:
        break
      }
      return part
    }
  }
}
