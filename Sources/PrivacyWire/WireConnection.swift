import GRPCCore
import NIOCore

/// Asks a connection to drain: announce the shutdown, finish its calls, then close.
struct WireDrain: Sendable {}

/// One client connection: the socket's bytes through an nghttp2 session, each request stream
/// checked against gRPC's rules and handed to `dispatch` as a `WireCall`, responses back out in one
/// write and one flush per burst. Lives on the connection's event loop.
final class WireConnection: ChannelDuplexHandler, HTTP2SessionDelegate {
  typealias InboundIn = ByteBuffer
  typealias OutboundIn = ByteBuffer
  typealias OutboundOut = ByteBuffer

  private let limits: WireLimits
  private let eventLoopAnswers: [MethodDescriptor: EventLoopAnswer]
  private let dispatch: @Sendable (WireCall) -> Void
  private let onHandshake: @Sendable (any Channel) -> Void
  private let budget: RequestBudget

  private var context: ChannelHandlerContext!
  /// Nil until the client's first bytes arrive.
  private var session: HTTP2Session!
  private var streams: [Int32: StreamState] = [:]
  /// Calls whose headers arrived in the current read burst: dispatched when the burst has been
  /// read, unless the client reset them meanwhile (a rapid-reset flood then never becomes work).
  private var undispatched: [(stream: Int32, call: WireCall)] = []
  /// Streams that were not refused and have not closed.
  private var activeCalls = 0
  /// Streams already closed (reset, most often) whose calls still run. They count against the
  /// stream limit with headroom: a client may cancel and replace calls freely, but resets cannot
  /// pile up work far beyond the limit (the rapid-reset attack of CVE-2023-44487).
  private var finishingCalls: Set<Int32> = []
  /// Streams the client reset before they became calls: a client has no reason to do that often.
  private var earlyResets: TokenBucket
  /// Set inside a read burst; the connection closes once the burst has been read.
  private var closeAfterRead = false
  /// The client's preface and first SETTINGS have arrived.
  private var handshakeCompleted = false
  private var flushScheduled = false
  /// Set while the session reads a burst: what is written meanwhile leaves with its flush.
  private var reading = false
  private var outputBlocked = false
  private var idleTimer: Scheduled<Void>?
  private var keepalive: RepeatedTask?
  private var lastRead = NIODeadline.now()
  private var pingSentAt: NIODeadline?
  private var drain = DrainStep.serving
  private var remotePeer = ""
  private var localPeer = ""

  private enum DrainStep {
    case serving
    /// The shutdown was announced; the final GOAWAY follows the PING's answer.
    case announced
    /// The final GOAWAY is out; the connection closes when its last stream does.
    case finished
  }

  /// A request stream as the event loop tracks it.
  private final class StreamState {
    var head: RequestHead?
    var call: WireCall?
    /// An event-loop method's request, answered on the event loop once it ends (no `call` then).
    var eventLoopRequest: EventLoopRequest?
    /// An event-loop method was given the request and its response is not written yet.
    var awaitingReply = false
    /// An event-loop method was given the request and has not replied yet, though the caller's
    /// deadline may have answered the call meanwhile: the work it started still counts against
    /// the connection's limits until it replies (`finishingCalls`).
    var answerRunning = false
    /// Ends a call awaiting its reply when the caller's `grpc-timeout` passes.
    var deadlineTimer: Scheduled<Void>?
    var deframer: MessageDeframer
    /// Refused or answered at once: what the client still sends is discarded.
    var discarding = false
    /// The request body itself was refused (too large, say): once the response is out, the client
    /// is told to stop sending it.
    var stopRequest = false
    /// Response metadata written by the call and not yet sent (see `respond`).
    var pendingHeaders: Metadata?
    var responseStarted = false
    var responseEnded = false
    var requestEnded = false
    /// Bytes received and not yet acknowledged to the peer (over budget).
    var owed = 0
    /// Refused above the stream limit: never counted as active.
    let refused: Bool
    /// The call was handed to GRPCCore and its writer has not ended yet.
    var callRunning = false

    init(limits: WireLimits, refused: Bool) {
      self.refused = refused
      head = refused ? nil : RequestHead(maxBytes: limits.maxHeaderListBytes)
      deframer = MessageDeframer(maxMessageBytes: limits.maxMessageBytes)
      discarding = refused
    }
  }

  init(
    limits: WireLimits, eventLoopAnswers: [MethodDescriptor: EventLoopAnswer], dispatch: @escaping @Sendable (WireCall) -> Void,
    onHandshake: @escaping @Sendable (any Channel) -> Void
  ) {
    self.limits = limits
    self.eventLoopAnswers = eventLoopAnswers
    self.dispatch = dispatch
    self.onHandshake = onHandshake
    self.budget = RequestBudget(perStream: limits.maxMessageBytes + 65_536, perConnection: limits.connectionBudgetBytes)
    self.earlyResets = TokenBucket(capacity: limits.resetBurst, perSecond: limits.resetsPerSecond)
  }

  // MARK: Channel events

  func handlerAdded(context: ChannelHandlerContext) {
    self.context = context
    remotePeer = Self.describe(context.channel.remoteAddress)
    localPeer = Self.describe(context.channel.localAddress)
  }

  /// The session, its timers and the server's SETTINGS begin with the client's first bytes: a
  /// connection that never sends any (a flood of silent connections) costs no session and no
  /// timer but the handshake timeout.
  private func openSession(context: ChannelHandlerContext) {
    session = HTTP2Session(
      delegate: self,
      settings: .init(
        maxConcurrentStreams: UInt32(limits.maxConcurrentStreams), initialWindowSize: UInt32(limits.streamWindowBytes),
        connectionWindowSize: Int32(limits.connectionWindowBytes), maxHeaderListSize: UInt32(limits.maxHeaderListBytes),
        resetBurst: limits.resetBurst, resetsPerSecond: limits.resetsPerSecond))
    let connection = NIOLoopBound(self, eventLoop: context.eventLoop)
    keepalive = context.eventLoop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { _ in
      connection.value.checkKeepalive()
    }
    startIdleTimer()
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    if session == nil { openSession(context: context) }
    lastRead = .now()
    pingSentAt = nil
    reading = true
    let received = session.receive(unwrapInboundIn(data))
    reading = false
    if !received || closeAfterRead {
      undispatched = []
      flush()
      context.close(promise: nil)
    }
  }

  func channelReadComplete(context: ChannelHandlerContext) {
    let ready = undispatched
    undispatched = []
    for (id, call) in ready {
      guard let state = streams[id], state.call === call else { continue }
      state.callRunning = true
      dispatch(call)
    }
    flush()
    context.fireChannelReadComplete()
  }

  func channelWritabilityChanged(context: ChannelHandlerContext) {
    if context.channel.isWritable && outputBlocked { flush() }
    context.fireChannelWritabilityChanged()
  }

  func channelInactive(context: ChannelHandlerContext) {
    for (id, state) in streams {
      endCall(of: state, stream: id, cancelled: true)
      state.deadlineTimer?.cancel()
    }
    streams = [:]
    keepalive?.cancel()
    idleTimer?.cancel()
    context.fireChannelInactive()
  }

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    context.close(promise: nil)
  }

  func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
    guard event is WireDrain else {
      context.triggerUserOutboundEvent(event, promise: promise)
      return
    }
    beginDrain()
    promise?.succeed()
  }

  // MARK: Output

  /// Writes what the session has for the wire, in one write and one flush; closes the connection
  /// once nothing is left to read or write.
  private func flush() {
    guard let context, session != nil else { return }
    guard context.channel.isWritable else {
      outputBlocked = true
      return
    }
    outputBlocked = false
    if let bytes = session.output(allocator: context.channel.allocator) {
      context.writeAndFlush(wrapOutboundOut(bytes), promise: nil)
    }
    if !session.isActive { context.close(promise: nil) }
  }

  /// Flushes once the event loop has done what is queued (writes from calls come one by one).
  private func scheduleFlush() {
    guard !flushScheduled, let context else { return }
    flushScheduled = true
    let connection = NIOLoopBound(self, eventLoop: context.eventLoop)
    context.eventLoop.execute {
      connection.value.flushScheduled = false
      connection.value.flush()
    }
  }

  // MARK: Calls' writes (event loop)

  private func respond(_ part: RPCResponsePart<[UInt8]>, stream id: Int32) {
    guard let state = streams[id], !state.responseEnded else { return }
    // Response headers wait for the first message or the status: a server stream that has sent
    // nothing then has nothing in flight when its client cancels it, and a client that cancels
    // hundreds of idle streams at once (the gateway relaying its callers) is not sent frames for
    // streams it already forgot.
    switch part {
    case .metadata(let metadata):
      state.pendingHeaders = metadata
    case .message(let message):
      if !state.responseStarted {
        state.responseStarted = true
        session.respond(stream: id, headers: Self.responseHeaders(state.pendingHeaders ?? [:]), endStream: false)
        state.pendingHeaders = nil
      }
      var framed = context.channel.allocator.buffer(capacity: message.count + 5)
      MessageFramer.frame(message, into: &framed)
      session.send(stream: id, &framed)
    case .status(let status, let trailers):
      state.responseEnded = true
      if state.responseStarted {
        session.finish(stream: id, trailers: Self.trailerFields(status, trailers))
      } else {
        session.respond(
          stream: id, headers: Self.responseHeaders(state.pendingHeaders ?? [:]) + Self.trailerFields(status, trailers),
          endStream: true)
      }
    }
    scheduleFlush()
  }

  private func writerEnded(stream id: Int32, failed: Bool) {
    if finishingCalls.remove(id) != nil { return }
    streams[id]?.callRunning = false
    guard let state = streams[id], failed || !state.responseEnded else { return }
    state.responseEnded = true
    session.reset(stream: id, code: HTTP2ErrorCode.internalError)
    scheduleFlush()
  }

  /// Acknowledges owed request bytes now that calls took some.
  private func acknowledgeOwed() {
    var stillOwing = false
    for (id, state) in streams where state.owed > 0 {
      if budget.mayAcknowledge(streamHeld: state.call?.held.value ?? 0) {
        session.consume(stream: id, count: state.owed)
        state.owed = 0
      } else {
        stillOwing = true
      }
    }
    if !stillOwing { budget.settled() }
    scheduleFlush()
  }

  // MARK: HTTP2SessionDelegate

  func sessionDidOpen(stream id: Int32) {
    idleTimer?.cancel()
    idleTimer = nil
    let refused =
      activeCalls >= limits.maxConcurrentStreams || activeCalls + finishingCalls.count >= 2 * limits.maxConcurrentStreams
    streams[id] = StreamState(limits: limits, refused: refused)
    if refused {
      session.reset(stream: id, code: HTTP2ErrorCode.refusedStream)
    } else {
      activeCalls += 1
    }
  }

  func session(stream id: Int32, header name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
    streams[id]?.head?.add(name: name, value: value)
  }

  func sessionDidReceiveHeaders(stream id: Int32, endStream: Bool) {
    guard let state = streams[id], let head = state.head else { return }
    state.head = nil
    state.requestEnded = endStream
    switch head.verdict {
    case .refuse(let httpStatus, let status, let extra):
      state.discarding = true
      state.responseEnded = true
      session.respond(
        stream: id,
        headers: [(":status", String(httpStatus)), ("content-type", "application/grpc")] + extra
          + Self.trailerFields(status, [:]),
        endStream: true)
    case .call(let descriptor, let metadata):
      if let answer = eventLoopAnswers[descriptor] {
        state.eventLoopRequest = EventLoopRequest(method: descriptor, answer: answer, metadata: metadata)
        if endStream { answerOnEventLoop(state, stream: id) }
        return
      }
      let call = makeCall(stream: id, descriptor: descriptor)
      state.call = call
      call.inbound.push(.metadata(metadata))
      if endStream { call.inbound.finish() }
      undispatched.append((id, call))
    }
  }

  func session(stream id: Int32, data: UnsafeRawBufferPointer) {
    guard let state = streams[id], !state.discarding, state.call != nil || state.eventLoopRequest != nil else {
      session.consume(stream: id, count: data.count)
      return
    }
    state.deframer.append(data)
    let streamHeld: Int
    if let call = state.call {
      streamHeld = call.held.add(data.count)
    } else {
      state.eventLoopRequest!.held += data.count
      streamHeld = state.eventLoopRequest!.held
    }
    if budget.received(data.count, streamHeld: streamHeld) {
      session.consume(stream: id, count: data.count)
    } else {
      state.owed += data.count
    }
    do {
      while let message = try state.deframer.next() {
        if let call = state.call {
          call.inbound.push(.message(message))
        } else if state.eventLoopRequest!.message == nil {
          state.eventLoopRequest!.message = message
        } else {
          discard(state, stream: id, failure: EventLoopRequest.cardinality(state.eventLoopRequest!.method, got: "more"))
          return
        }
      }
    } catch {
      let failure: RPCError =
        switch error {
        case .tooLarge(let announced, let limit):
          RPCError(code: .resourceExhausted, message: "request message of \(announced) bytes exceeds the limit of \(limit) bytes")
        case .compressed:
          RPCError(code: .invalidArgument, message: "the request message is flagged compressed, but no grpc-encoding was agreed")
        }
      discard(state, stream: id, failure: failure)
    }
  }

  func sessionDidEndRequest(stream id: Int32) {
    guard let state = streams[id] else { return }
    state.requestEnded = true
    guard state.call != nil || state.eventLoopRequest != nil, !state.discarding else { return }
    if state.deframer.bufferedBytes > 0 {
      discard(state, stream: id, failure: RPCError(code: .invalidArgument, message: "the request ended inside a message"))
    } else if let call = state.call {
      call.inbound.finish()
    } else {
      answerOnEventLoop(state, stream: id)
    }
  }

  func sessionDidSendEnd(stream id: Int32) {
    // The response is complete while the client still sends a body that was refused: tell it to
    // stop, without error (RFC 9113, 8.1). A small remainder is simply read and discarded, which
    // spares clients that take any reset for a failure.
    if let state = streams[id], state.stopRequest, !state.requestEnded {
      session.reset(stream: id, code: HTTP2ErrorCode.noError)
    }
  }

  func sessionDidClose(stream id: Int32, errorCode: UInt32) {
    guard let state = streams.removeValue(forKey: id) else { return }
    let completed = errorCode == HTTP2ErrorCode.noError && state.requestEnded && state.responseEnded
    endCall(of: state, stream: id, cancelled: !completed)
    state.deadlineTimer?.cancel()
    // An event-loop request reset before it was answered no longer holds its bytes.
    if let request = state.eventLoopRequest { budget.released(request.held) }
    // The stream is gone, but its unacknowledged bytes still count against the connection's window.
    if state.owed > 0 { session.consumeConnection(count: state.owed) }
    if !state.refused { activeCalls -= 1 }
    let running = state.callRunning || state.answerRunning
    if running { finishingCalls.insert(id) }
    if errorCode != HTTP2ErrorCode.noError, !closeAfterRead, !state.refused, !running,
      !earlyResets.take(at: .now())
    {
      // Streams opened and reset before they became calls, again and again: a rapid-reset flood.
      session.goAway(code: HTTP2ErrorCode.enhanceYourCalm)
      closeAfterRead = true
    }
    if streams.isEmpty {
      if drain == .finished {
        flush()
      } else {
        startIdleTimer()
      }
    }
    scheduleFlush()
  }

  func session(stream id: Int32, didSend count: Int) {
    streams[id]?.call?.writer.sent(count)
  }

  func sessionDidReceivePingAck() {
    pingSentAt = nil
    if drain == .announced { finishDrain() }
  }

  func sessionDidReceiveSettings() {
    guard !handshakeCompleted else { return }
    handshakeCompleted = true
    onHandshake(context.channel)
  }

  // MARK: Helpers

  private func makeCall(stream id: Int32, descriptor: MethodDescriptor) -> WireCall {
    let connection = NIOLoopBound(self, eventLoop: context.eventLoop)
    let eventLoop = context.eventLoop
    let budget = self.budget
    let held = HeldBytes()
    let inbound = InboundParts { taken in
      held.subtract(taken + 5)
      if budget.taken(taken + 5) { eventLoop.execute { connection.value.acknowledgeOwed() } }
    }
    let writer = ResponseWriter(
      deliver: { part in
        if eventLoop.inEventLoop {
          connection.value.respond(part, stream: id)
        } else {
          eventLoop.execute { connection.value.respond(part, stream: id) }
        }
      },
      end: { failed in eventLoop.execute { connection.value.writerEnded(stream: id, failed: failed) } })
    return WireCall(
      descriptor: descriptor, remotePeer: remotePeer, localPeer: localPeer, held: held, inbound: inbound, writer: writer)
  }

  /// Fails a call's request with `failure` and discards what the client still sends on it.
  private func discard(_ state: StreamState, stream id: Int32, failure: RPCError) {
    state.discarding = true
    state.stopRequest = true
    if state.eventLoopRequest != nil {
      answerOnEventLoop(state, stream: id, failure: failure)
      return
    }
    state.call?.inbound.finish(failure)
    if let held = state.call?.held.takeAll() { budget.released(held) }
    releaseOwed(state, stream: id)
  }

  private func releaseOwed(_ state: StreamState, stream id: Int32) {
    if state.owed > 0 {
      session.consume(stream: id, count: state.owed)
      state.owed = 0
    }
  }

  /// Hands an event-loop method's request to its answer, here on the event loop. With `failure`
  /// the transport refused the request; the answer still sees it, so the call is counted and
  /// logged like any. An answer that replies at once is written before this returns and leaves
  /// with the read burst's flush; one that replies later may be overtaken by the caller's deadline.
  private func answerOnEventLoop(_ state: StreamState, stream id: Int32, failure: RPCError? = nil) {
    guard let request = state.eventLoopRequest, !state.responseEnded else { return }
    state.eventLoopRequest = nil
    state.awaitingReply = true
    state.answerRunning = true
    budget.released(request.held)
    releaseOwed(state, stream: id)
    let connection = NIOLoopBound(self, eventLoop: context.eventLoop)
    let eventLoop = context.eventLoop
    let reply = UnaryReply { result in
      if eventLoop.inEventLoop {
        connection.value.replied(result, stream: id)
      } else {
        eventLoop.execute { connection.value.replied(result, stream: id) }
      }
    }
    request.answer(failure.map { .failure($0) } ?? request.complete, request.metadata, reply)
    guard state.awaitingReply,
      let timeout = request.metadata[stringValues: "grpc-timeout"].first(where: { _ in true }).flatMap(GRPCTimeout.duration)
    else { return }
    state.deadlineTimer = eventLoop.scheduleTask(in: TimeAmount(min(timeout, Self.longestDeadline))) {
      connection.value.deliver(.failure(RPCError(code: .deadlineExceeded, message: "the deadline passed before the call was answered")), stream: id)
    }
  }

  /// Deadlines further out are kept as this (`grpc-timeout` allows 99,999,999 hours, beyond what
  /// a timer's nanoseconds hold).
  private static let longestDeadline = Duration.seconds(30 * 86_400)

  /// An event-loop method's reply: written unless the call already ended (reset by the client,
  /// answered by its deadline), and the method's work no longer counted either way.
  private func replied(_ result: Result<UnaryResponse, RPCError>, stream id: Int32) {
    if finishingCalls.remove(id) != nil { return }
    streams[id]?.answerRunning = false
    deliver(result, stream: id)
  }

  /// Writes an event-loop call's response (the method's reply, or DEADLINE_EXCEEDED when the
  /// caller's deadline passes first): the whole response, headers, message and trailers, or the
  /// status alone. Once one is written, the other finds the call answered.
  private func deliver(_ result: Result<UnaryResponse, RPCError>, stream id: Int32) {
    guard let state = streams[id], state.awaitingReply else { return }
    state.awaitingReply = false
    state.deadlineTimer?.cancel()
    state.deadlineTimer = nil
    state.responseEnded = true
    switch result {
    case .success(let response):
      state.responseStarted = true
      session.respond(stream: id, headers: Self.responseHeaders(response.metadata), endStream: false)
      var framed = context.channel.allocator.buffer(capacity: response.message.count + 5)
      MessageFramer.frame(response.message, into: &framed)
      session.send(stream: id, &framed)
      session.finish(stream: id, trailers: Self.trailerFields(Status(code: .ok, message: ""), [:]))
    case .failure(let error):
      session.respond(
        stream: id,
        headers: Self.responseHeaders([:]) + Self.trailerFields(Status(code: Status.Code(error.code), message: error.message), error.metadata),
        endStream: true)
    }
    if !reading { scheduleFlush() }
  }

  private func endCall(of state: StreamState, stream id: Int32, cancelled: Bool) {
    guard let call = state.call else { return }
    if cancelled {
      call.inbound.abort(RPCError(code: .cancelled, message: "the client cancelled the call"))
      call.cancel()
    }
    call.writer.close()
    budget.released(call.held.takeAll())
  }

  private func startIdleTimer() {
    idleTimer?.cancel()
    let connection = NIOLoopBound(self, eventLoop: context.eventLoop)
    idleTimer = context.eventLoop.scheduleTask(in: TimeAmount(limits.idleTimeout)) {
      connection.value.closeIdle()
    }
  }

  private func closeIdle() {
    guard streams.isEmpty else { return }
    session.goAway()
    drain = .finished
    flush()
    context.close(promise: nil)
  }

  private func checkKeepalive() {
    let now = NIODeadline.now()
    if let sent = pingSentAt {
      if now - sent >= TimeAmount(limits.keepaliveTimeout) { context.close(promise: nil) }
    } else if now - lastRead >= TimeAmount(limits.keepaliveTime) {
      pingSentAt = now
      session.ping()
      flush()
    }
  }

  private func beginDrain() {
    guard session != nil else {
      context.close(promise: nil)
      return
    }
    guard drain == .serving else { return }
    drain = .announced
    session.announceShutdown()
    session.ping()
    flush()
    // A peer that does not answer the PING gets the final GOAWAY anyway.
    let connection = NIOLoopBound(self, eventLoop: context.eventLoop)
    context.eventLoop.scheduleTask(in: .seconds(1)) { connection.value.finishDrain() }
  }

  private func finishDrain() {
    guard drain == .announced else { return }
    drain = .finished
    session.goAway()
    flush()
  }

  // MARK: Headers

  static func responseHeaders(_ metadata: Metadata) -> [(String, String)] {
    [(":status", "200"), ("content-type", "application/grpc")] + fields(metadata)
  }

  static func trailerFields(_ status: Status, _ metadata: Metadata) -> [(String, String)] {
    var fields = [("grpc-status", String(status.code.rawValue))]
    if !status.message.isEmpty { fields.append(("grpc-message", percentEncoded(status.message))) }
    return fields + Self.fields(metadata)
  }

  private static func fields(_ metadata: Metadata) -> [(String, String)] {
    metadata.map { entry in
      switch entry.value {
      case .string(let text): (entry.key, text)
      case .binary(let bytes): (entry.key, Base64.encode(bytes))
      }
    }
  }

  /// gRPC's `grpc-message` encoding: bytes outside printable ASCII, and `%`, as `%XX`.
  static func percentEncoded(_ text: String) -> String {
    var result = ""
    for byte in text.utf8 {
      if byte >= 0x20 && byte <= 0x7e && byte != UInt8(ascii: "%") {
        result.unicodeScalars.append(Unicode.Scalar(byte))
      } else {
        result += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
      }
    }
    return result
  }

  /// `ipv4:127.0.0.1:5000` / `ipv6:[::1]:5000`, as gRPC names peers.
  private static func describe(_ address: SocketAddress?) -> String {
    guard let address, let ip = address.ipAddress, let port = address.port else { return "unknown" }
    switch address {
    case .v6: return "ipv6:[\(ip)]:\(port)"
    default: return "ipv4:\(ip):\(port)"
    }
  }
}

/// HTTP/2 error codes used by the server (RFC 9113, 7).
enum HTTP2ErrorCode {
  static let noError: UInt32 = 0x0
  static let internalError: UInt32 = 0x2
  static let refusedStream: UInt32 = 0x7
  static let enhanceYourCalm: UInt32 = 0xb
}

/// A token bucket: `capacity` tokens at most, `perSecond` added back each second.
struct TokenBucket {
  let capacity: UInt64
  let perSecond: UInt64
  private var tokens: Double
  private var refilled: NIODeadline?

  init(capacity: UInt64, perSecond: UInt64) {
    self.capacity = capacity
    self.perSecond = perSecond
    self.tokens = Double(capacity)
  }

  /// Takes a token; false when none is left.
  mutating func take(at now: NIODeadline) -> Bool {
    if let refilled {
      let seconds = Double((now - refilled).nanoseconds) / 1e9
      tokens = min(Double(capacity), tokens + seconds * Double(perSecond))
    }
    refilled = now
    guard tokens >= 1 else { return false }
    tokens -= 1
    return true
  }
}

extension String {
  fileprivate func leftPadded(to length: Int) -> String {
    count >= length ? self : String(repeating: "0", count: length - count) + self
  }
}
