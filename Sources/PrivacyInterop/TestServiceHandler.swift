import Foundation
import GRPCCore
import InteropProtocol

/// gRPC's interop `grpc.testing.TestService`, as gRPC's interop test descriptions ask a server to
/// behave: payloads of zeros of the sizes asked for, the status asked for, and the metadata
/// `x-grpc-test-echo-initial` and `x-grpc-test-echo-trailing-bin` echoed back. Its only job is to
/// let stock interop clients exercise the transport, so its limits keep a hostile client from
/// making it allocate or wait without bound.
struct TestServiceHandler: Grpc_Testing_TestService.ServiceProtocol {
  /// Largest payload one response may ask for: a response must fit the 4 MiB message limit.
  static let maximumPayloadBytes = 4 * 1024 * 1024 - 64
  /// Most responses one request may ask for.
  static let maximumResponses = 1000
  /// Longest pause before one response.
  static let maximumIntervalMicroseconds: Int32 = 10_000_000

  /// What the responses of one call may ask for, all its requests together. A payload is made
  /// only as it is sent, so this bounds how long a call holds the server, not its memory.
  struct CallBudget {
    static let maximumBytes = 64 * 1024 * 1024
    static let maximumResponses = 10_000
    static let maximumPause = Duration.seconds(60)

    var bytes = maximumBytes
    var responses = maximumResponses
    var pause = maximumPause

    /// Takes one response from the budget; refuses the call when it would go over.
    mutating func take(_ response: PlannedResponse) throws(RPCError) {
      bytes -= Int(response.size)
      responses -= 1
      pause -= response.pause
      guard bytes >= 0, responses >= 0, pause >= .zero else {
        throw RPCError(
          code: .invalidArgument,
          message: "the responses of one call may hold at most \(Self.maximumBytes) bytes of payload, be at most "
            + "\(Self.maximumResponses) and wait at most \(Self.maximumPause) in all")
      }
    }
  }

  static let echoInitialKey = "x-grpc-test-echo-initial"
  static let echoTrailingKey = "x-grpc-test-echo-trailing-bin"

  /// The same for every call to this process (`fill_server_id`).
  let serverID = UUID().uuidString.lowercased()

  func emptyCall(
    request: ServerRequest<Grpc_Testing_Empty>, context: ServerContext
  ) async throws -> ServerResponse<Grpc_Testing_Empty> {
    ServerResponse(message: Grpc_Testing_Empty(), metadata: Self.echoedInitial(request.metadata))
  }

  func unaryCall(
    request: ServerRequest<Grpc_Testing_SimpleRequest>, context: ServerContext
  ) async throws -> ServerResponse<Grpc_Testing_SimpleResponse> {
    let message = request.message
    try Self.refuseCompression(message.expectCompressed, message.responseCompressed)
    try Self.endIfAsked(message.responseStatus, metadata: request.metadata)
    let payload = try Self.payload(size: message.responseSize, field: "response_size")
    return ServerResponse(
      message: .with {
        $0.payload = payload
        if message.fillServerID { $0.serverID = serverID }
      },
      metadata: Self.echoedInitial(request.metadata),
      trailingMetadata: Self.echoedTrailing(request.metadata))
  }

  func cacheableUnaryCall(
    request: ServerRequest<Grpc_Testing_SimpleRequest>, context: ServerContext
  ) async throws -> ServerResponse<Grpc_Testing_SimpleResponse> {
    try await unaryCall(request: request, context: context)
  }

  func streamingOutputCall(
    request: ServerRequest<Grpc_Testing_StreamingOutputCallRequest>, context: ServerContext
  ) async throws -> StreamingServerResponse<Grpc_Testing_StreamingOutputCallResponse> {
    let message = request.message
    var budget = CallBudget()
    let responses = try Self.responses(message, budget: &budget)
    let metadata = request.metadata
    return StreamingServerResponse(metadata: Self.echoedInitial(metadata)) { writer in
      try await Self.send(responses, to: writer)
      try Self.endIfAsked(message.responseStatus, metadata: metadata)
      return Self.echoedTrailing(metadata)
    }
  }

  func streamingInputCall(
    request: StreamingServerRequest<Grpc_Testing_StreamingInputCallRequest>, context: ServerContext
  ) async throws -> ServerResponse<Grpc_Testing_StreamingInputCallResponse> {
    var total = 0
    for try await message in request.messages {
      try Self.refuseCompression(message.expectCompressed)
      total += message.payload.body.count
    }
    guard let aggregated = Int32(exactly: total) else {
      throw RPCError(code: .outOfRange, message: "the payloads received add up to more than 2^31 - 1 bytes")
    }
    return ServerResponse(message: .with { $0.aggregatedPayloadSize = aggregated })
  }

  /// Each request is answered as it arrives.
  func fullDuplexCall(
    request: StreamingServerRequest<Grpc_Testing_StreamingOutputCallRequest>, context: ServerContext
  ) async throws -> StreamingServerResponse<Grpc_Testing_StreamingOutputCallResponse> {
    let metadata = request.metadata
    return StreamingServerResponse(metadata: Self.echoedInitial(metadata)) { writer in
      var budget = CallBudget()
      for try await message in request.messages {
        try Self.endIfAsked(message.responseStatus, metadata: metadata)
        try await Self.send(try Self.responses(message, budget: &budget), to: writer)
      }
      return Self.echoedTrailing(metadata)
    }
  }

  /// Every request is read before any is answered.
  func halfDuplexCall(
    request: StreamingServerRequest<Grpc_Testing_StreamingOutputCallRequest>, context: ServerContext
  ) async throws -> StreamingServerResponse<Grpc_Testing_StreamingOutputCallResponse> {
    let metadata = request.metadata
    return StreamingServerResponse(metadata: Self.echoedInitial(metadata)) { writer in
      // Only each request's plan is kept (sizes, pauses, status), never its payload.
      var budget = CallBudget()
      var received: [(responses: [PlannedResponse], status: Grpc_Testing_EchoStatus)] = []
      for try await message in request.messages {
        guard received.count < Self.maximumResponses else {
          throw RPCError(code: .resourceExhausted, message: "at most \(Self.maximumResponses) requests per call")
        }
        received.append((try Self.responses(message, budget: &budget), message.responseStatus))
      }
      for (responses, status) in received {
        try Self.endIfAsked(status, metadata: metadata)
        try await Self.send(responses, to: writer)
      }
      return Self.echoedTrailing(metadata)
    }
  }

  func unimplementedCall(
    request: ServerRequest<Grpc_Testing_Empty>, context: ServerContext
  ) async throws -> ServerResponse<Grpc_Testing_Empty> {
    throw RPCError(code: .unimplemented, message: "grpc.testing.TestService/UnimplementedCall is not implemented")
  }

  // MARK: Rules of the interop descriptions

  /// A payload of `size` zeros.
  static func payload(size: Int32, field: String) throws(RPCError) -> Grpc_Testing_Payload {
    let size = try checked(size: size, field: field)
    return .with {
      $0.type = .compressable
      $0.body = Data(count: Int(size))
    }
  }

  /// A payload size the server makes: not negative, at most `maximumPayloadBytes`.
  static func checked(size: Int32, field: String) throws(RPCError) -> Int32 {
    guard size >= 0 else { throw RPCError(code: .invalidArgument, message: "\(field) must not be negative") }
    guard size <= maximumPayloadBytes else {
      throw RPCError(code: .invalidArgument, message: "\(field) must be at most \(maximumPayloadBytes) bytes")
    }
    return size
  }

  /// One response a request asks for: its payload is made when it is sent.
  struct PlannedResponse: Sendable {
    var pause: Duration
    var size: Int32
  }

  /// The responses one request asks for, checked before any is sent and taken from the call's
  /// `budget`.
  static func responses(_ message: Grpc_Testing_StreamingOutputCallRequest, budget: inout CallBudget) throws(RPCError) -> [PlannedResponse] {
    let parameters = message.responseParameters
    guard parameters.count <= maximumResponses else {
      throw RPCError(code: .invalidArgument, message: "response_parameters may ask for at most \(maximumResponses) responses")
    }
    var responses: [PlannedResponse] = []
    for (index, parameter) in parameters.enumerated() {
      try refuseCompression(parameter.compressed)
      guard (0...maximumIntervalMicroseconds).contains(parameter.intervalUs) else {
        throw RPCError(
          code: .invalidArgument, message: "response_parameters[\(index)].interval_us must be 0-\(maximumIntervalMicroseconds)")
      }
      let planned = PlannedResponse(
        pause: .microseconds(parameter.intervalUs), size: try checked(size: parameter.size, field: "response_parameters[\(index)].size"))
      try budget.take(planned)
      responses.append(planned)
    }
    return responses
  }

  static func send(_ responses: [PlannedResponse], to writer: RPCWriter<Grpc_Testing_StreamingOutputCallResponse>) async throws {
    for planned in responses {
      if planned.pause > .zero { try await Task.sleep(for: planned.pause) }
      try await writer.write(.with { $0.payload = .with { $0.body = Data(count: Int(planned.size)) } })
    }
  }

  /// Ends the call with the status the client asked for, if any (trailing echo included).
  static func endIfAsked(_ status: Grpc_Testing_EchoStatus, metadata: Metadata) throws(RPCError) {
    guard status.code != 0 else { return }
    let code = Status.Code(rawValue: Int(status.code)).flatMap(RPCError.Code.init) ?? .unknown
    throw RPCError(code: code, message: status.message, metadata: echoedTrailing(metadata))
  }

  /// This server sends and takes identity-encoded messages only.
  static func refuseCompression(_ flags: Grpc_Testing_BoolValue...) throws(RPCError) {
    guard flags.contains(where: \.value) else { return }
    throw RPCError(code: .invalidArgument, message: "this server sends and takes uncompressed messages only")
  }

  static func echoedInitial(_ metadata: Metadata) -> Metadata {
    var echoed: Metadata = [:]
    for value in metadata[stringValues: echoInitialKey] { echoed.addString(value, forKey: echoInitialKey) }
    return echoed
  }

  static func echoedTrailing(_ metadata: Metadata) -> Metadata {
    var echoed: Metadata = [:]
    for value in metadata[binaryValues: echoTrailingKey] { echoed.addBinary(value, forKey: echoTrailingKey) }
    return echoed
  }
}
