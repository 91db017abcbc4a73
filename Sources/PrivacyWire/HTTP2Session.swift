import CNGHTTP2
import NIOCore

/// What a session reports while it reads the peer's bytes. Every call comes synchronously from
/// inside `HTTP2Session.receive` or `HTTP2Session.output`, on the connection's event loop.
protocol HTTP2SessionDelegate: AnyObject {
  /// A request's HEADERS frame opened `stream`.
  func sessionDidOpen(stream: Int32)
  /// One header of the request on `stream`, in the order received (pseudo-headers first).
  func session(stream: Int32, header name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)
  /// The request's header block on `stream` is complete; `endStream` when it carried END_STREAM.
  func sessionDidReceiveHeaders(stream: Int32, endStream: Bool)
  /// Request body bytes of `stream`. The session does not consume them: the delegate calls
  /// `consume(stream:count:)` when it has room, which is what opens the peer's flow-control window.
  func session(stream: Int32, data: UnsafeRawBufferPointer)
  /// The client ended its half of `stream` with a DATA frame.
  func sessionDidEndRequest(stream: Int32)
  /// The frame that ended our half of `stream` (the response's END_STREAM) was sent.
  func sessionDidSendEnd(stream: Int32)
  /// `stream` is closed, by both halves ending (code 0) or a reset either way.
  func sessionDidClose(stream: Int32, errorCode: UInt32)
  /// `count` response bytes of `stream` left its outbound buffer for the wire.
  func session(stream: Int32, didSend count: Int)
  /// The peer answered our PING.
  func sessionDidReceivePingAck()
  /// The peer sent SETTINGS (not an acknowledgement); the first completes the handshake, since
  /// nghttp2 has checked the client preface before it.
  func sessionDidReceiveSettings()
}

/// One server-side HTTP/2 connection in libnghttp2: bytes in through `receive`, frames out through
/// `output`, responses submitted per stream. The only type that touches C pointers; it is
/// confined to its connection's event loop.
final class HTTP2Session {
  struct Settings {
    /// Concurrent streams advertised to the peer; the delegate refuses streams above it.
    var maxConcurrentStreams: UInt32
    var initialWindowSize: UInt32
    var connectionWindowSize: Int32
    var maxHeaderListSize: UInt32
    var resetBurst: UInt64
    var resetsPerSecond: UInt64
  }

  /// What the peer is told, and what nghttp2 enforces with a connection error: nghttp2 treats a
  /// stream above its own limit as a connection error, so its limit is set far above the one the
  /// peer sees and the delegate refuses the streams in between one by one (REFUSED_STREAM).
  static let engineStreamLimit: UInt32 = 1 << 20

  private var session: OpaquePointer?
  private weak var delegate: (any HTTP2SessionDelegate)?
  private var outbound: [Int32: Outbound] = [:]
  /// The advertised stream limit still has to be written into the first SETTINGS frame.
  private var settingsToPatch: UInt32?

  /// A response body waiting for the wire, and how the response ends.
  private struct Outbound {
    var buffer = ByteBuffer()
    var ended = false
    var trailers: [(String, String)] = []
  }

  init(delegate: any HTTP2SessionDelegate, settings: Settings) {
    self.delegate = delegate
    var callbacks: OpaquePointer?
    nghttp2_session_callbacks_new(&callbacks)
    defer { nghttp2_session_callbacks_del(callbacks) }
    nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, onBeginHeaders)
    nghttp2_session_callbacks_set_on_header_callback(callbacks, onHeader)
    nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, onFrameReceived)
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, onDataChunk)
    nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, onFrameSent)
    nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, onStreamClose)

    var options: OpaquePointer?
    nghttp2_option_new(&options)
    defer { nghttp2_option_del(options) }
    // Windows open only as the delegate takes the bytes, which bounds what a peer can make us hold.
    nghttp2_option_set_no_auto_window_update(options, 1)
    // Closed streams are not kept for priority bookkeeping (RFC 9113 deprecates that scheme).
    nghttp2_option_set_no_closed_streams(options, 1)
    nghttp2_option_set_stream_reset_rate_limit(options, settings.resetBurst, settings.resetsPerSecond)

    let userData = Unmanaged.passUnretained(self).toOpaque()
    nghttp2_session_server_new2(&session, callbacks, userData, options)

    var entries = [
      nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue), value: Self.engineStreamLimit),
      nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue), value: settings.initialWindowSize),
      nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue), value: settings.maxHeaderListSize),
    ]
    nghttp2_submit_settings(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), &entries, entries.count)
    nghttp2_session_set_local_window_size(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, settings.connectionWindowSize)
    settingsToPatch = settings.maxConcurrentStreams
  }

  deinit {
    nghttp2_session_del(session)
  }

  // MARK: Input

  /// Feeds the peer's bytes in; delegate calls happen meanwhile. False when the connection must
  /// close (a protocol violation nghttp2 answered with GOAWAY, which `output` still holds).
  func receive(_ buffer: ByteBuffer) -> Bool {
    buffer.withUnsafeReadableBytes { bytes in
      guard let base = bytes.baseAddress else { return true }
      let result = nghttp2_session_mem_recv(session, base.assumingMemoryBound(to: UInt8.self), bytes.count)
      return result >= 0
    }
  }

  /// Tells nghttp2 that `count` bytes of `stream`'s request body were taken, so the peer may send
  /// that much more.
  func consume(stream: Int32, count: Int) {
    guard count > 0 else { return }
    nghttp2_session_consume(session, stream, count)
  }

  /// Acknowledges `count` bytes of a stream that closed before they were consumed (they still
  /// count against the connection's window).
  func consumeConnection(count: Int) {
    guard count > 0 else { return }
    nghttp2_session_consume_connection(session, count)
  }

  // MARK: Output

  /// The frames waiting to be written, or nil when there are none.
  func output(allocator: ByteBufferAllocator) -> ByteBuffer? {
    var result: ByteBuffer?
    while true {
      var chunk: UnsafePointer<UInt8>?
      let count = nghttp2_session_mem_send(session, &chunk)
      guard count > 0, let chunk else { break }
      if result == nil { result = allocator.buffer(capacity: max(Int(count), 4096)) }
      result!.writeBytes(UnsafeRawBufferPointer(start: chunk, count: Int(count)))
    }
    if let limit = settingsToPatch, var bytes = result {
      settingsToPatch = nil
      Self.advertise(maxConcurrentStreams: limit, inFirstSettingsOf: &bytes)
      result = bytes
    }
    return result
  }

  /// Whether the connection still has anything to read or write; false once a GOAWAY has been
  /// exchanged and every stream has ended.
  var isActive: Bool {
    nghttp2_session_want_read(session) != 0 || nghttp2_session_want_write(session) != 0
  }

  /// Rewrites the value of SETTINGS_MAX_CONCURRENT_STREAMS in the server's first SETTINGS frame
  /// (the first frame it sends, built from the entries submitted in `init`).
  private static func advertise(maxConcurrentStreams limit: UInt32, inFirstSettingsOf bytes: inout ByteBuffer) {
    let start = bytes.readerIndex
    guard let length = bytes.getInteger(at: start, as: UInt32.self).map({ Int($0 >> 8) }),
      bytes.getInteger(at: start + 3, as: UInt8.self) == UInt8(NGHTTP2_SETTINGS.rawValue), length % 6 == 0
    else { return }
    for entry in stride(from: start + 9, to: start + 9 + length, by: 6)
    where bytes.getInteger(at: entry, as: UInt16.self) == UInt16(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue) {
      bytes.setInteger(limit, at: entry + 2)
    }
  }

  // MARK: Responses

  /// Sends the response headers of `stream`. With `endStream` they are the whole response (a
  /// trailers-only response); otherwise a body follows through `send` and `finish`.
  func respond(stream: Int32, headers: [(String, String)], endStream: Bool) {
    withNameValues(headers) { nva, count in
      if endStream {
        _ = nghttp2_submit_response(session, stream, nva, count, nil)
      } else {
        outbound[stream] = Outbound()
        var provider = nghttp2_data_provider(source: nghttp2_data_source(ptr: nil), read_callback: readResponseBody)
        _ = nghttp2_submit_response(session, stream, nva, count, &provider)
      }
    }
  }

  /// Queues response body bytes of `stream`.
  func send(stream: Int32, _ bytes: inout ByteBuffer) {
    guard outbound[stream] != nil else { return }
    outbound[stream]!.buffer.writeBuffer(&bytes)
    nghttp2_session_resume_data(session, stream)
  }

  /// Ends the response body of `stream` with `trailers`, once the queued bytes are out.
  func finish(stream: Int32, trailers: [(String, String)]) {
    guard outbound[stream] != nil else { return }
    outbound[stream]!.ended = true
    outbound[stream]!.trailers = trailers
    nghttp2_session_resume_data(session, stream)
  }

  /// Resets `stream` with an HTTP/2 error code.
  func reset(stream: Int32, code: UInt32) {
    nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), stream, code)
  }

  /// Bytes of `stream`'s response body still waiting for the wire.
  func pendingBytes(stream: Int32) -> Int {
    outbound[stream]?.buffer.readableBytes ?? 0
  }

  // MARK: Connection

  func ping() {
    nghttp2_submit_ping(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), nil)
  }

  /// The first step of a graceful shutdown: a GOAWAY that announces it without refusing streams.
  func announceShutdown() {
    nghttp2_submit_shutdown_notice(session)
  }

  /// The final GOAWAY: streams after the last one processed are refused.
  func goAway(code: UInt32 = 0) {
    nghttp2_submit_goaway(
      session, UInt8(NGHTTP2_FLAG_NONE.rawValue), nghttp2_session_get_last_proc_stream_id(session), code, nil, 0)
  }

  // MARK: Callback bodies

  fileprivate func readBody(stream: Int32, into buffer: UnsafeMutablePointer<UInt8>, length: Int, flags: UnsafeMutablePointer<UInt32>) -> Int {
    guard var pending = outbound[stream] else { return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue) }
    let count = min(length, pending.buffer.readableBytes)
    if count > 0 {
      pending.buffer.withUnsafeReadableBytes { bytes in
        UnsafeMutableRawPointer(buffer).copyMemory(from: bytes.baseAddress!, byteCount: count)
      }
      pending.buffer.moveReaderIndex(forwardBy: count)
      if pending.buffer.readableBytes == 0 { pending.buffer.clear() }
    }
    if pending.ended && pending.buffer.readableBytes == 0 {
      flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
      if !pending.trailers.isEmpty {
        flags.pointee |= NGHTTP2_DATA_FLAG_NO_END_STREAM.rawValue
        withNameValues(pending.trailers) { nva, count in _ = nghttp2_submit_trailer(session, stream, nva, count) }
      }
      outbound[stream] = nil
    } else {
      outbound[stream] = pending
      if count == 0 { return Int(NGHTTP2_ERR_DEFERRED.rawValue) }
    }
    if count > 0 { delegate?.session(stream: stream, didSend: count) }
    return count
  }

  fileprivate func frameReceived(_ frame: UnsafePointer<nghttp2_frame>) {
    let header = frame.pointee.hd
    let endStream = header.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0
    switch UInt32(header.type) {
    case NGHTTP2_HEADERS.rawValue where frame.pointee.headers.cat == NGHTTP2_HCAT_REQUEST:
      delegate?.sessionDidReceiveHeaders(stream: header.stream_id, endStream: endStream)
    case NGHTTP2_HEADERS.rawValue where endStream, NGHTTP2_DATA.rawValue where endStream:
      // Trailers from a client, or the last DATA frame: either way the request is complete.
      delegate?.sessionDidEndRequest(stream: header.stream_id)
    case NGHTTP2_PING.rawValue where header.flags & UInt8(NGHTTP2_FLAG_ACK.rawValue) != 0:
      delegate?.sessionDidReceivePingAck()
    case NGHTTP2_SETTINGS.rawValue where header.flags & UInt8(NGHTTP2_FLAG_ACK.rawValue) == 0:
      delegate?.sessionDidReceiveSettings()
    default:
      break
    }
  }

  fileprivate func frameSent(_ frame: UnsafePointer<nghttp2_frame>) {
    let header = frame.pointee.hd
    let type = UInt32(header.type)
    guard type == NGHTTP2_HEADERS.rawValue || type == NGHTTP2_DATA.rawValue,
      header.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0
    else { return }
    delegate?.sessionDidSendEnd(stream: header.stream_id)
  }

  fileprivate func streamClosed(_ stream: Int32, errorCode: UInt32) {
    outbound[stream] = nil
    delegate?.sessionDidClose(stream: stream, errorCode: errorCode)
  }

  fileprivate var currentDelegate: (any HTTP2SessionDelegate)? { delegate }
}

/// Calls `body` with nghttp2 name/value pairs for `headers` (nghttp2 copies them).
private func withNameValues<T>(_ headers: [(String, String)], _ body: (UnsafePointer<nghttp2_nv>, Int) -> T) -> T {
  var storage: [UInt8] = []
  var ranges: [(name: Range<Int>, value: Range<Int>)] = []
  for (name, value) in headers {
    let nameStart = storage.count
    storage.append(contentsOf: name.utf8)
    let valueStart = storage.count
    storage.append(contentsOf: value.utf8)
    ranges.append((nameStart..<valueStart, valueStart..<storage.count))
  }
  storage.append(0)  // a valid address even when every header is empty
  return storage.withUnsafeMutableBufferPointer { bytes in
    let base = bytes.baseAddress!
    let pairs = ranges.map { range in
      nghttp2_nv(
        name: base + range.name.lowerBound, value: base + range.value.lowerBound, namelen: range.name.count,
        valuelen: range.value.count, flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue))
    }
    return pairs.withUnsafeBufferPointer { body($0.baseAddress!, $0.count) }
  }
}

private func owner(_ userData: UnsafeMutableRawPointer?) -> HTTP2Session {
  Unmanaged<HTTP2Session>.fromOpaque(userData!).takeUnretainedValue()
}

// C callbacks: they cannot capture, so each finds its session through `user_data`.

private let onBeginHeaders: nghttp2_on_begin_headers_callback = { _, frame, userData in
  guard let frame, frame.pointee.hd.type == UInt8(NGHTTP2_HEADERS.rawValue), frame.pointee.headers.cat == NGHTTP2_HCAT_REQUEST
  else { return 0 }
  owner(userData).currentDelegate?.sessionDidOpen(stream: frame.pointee.hd.stream_id)
  return 0
}

private let onHeader: nghttp2_on_header_callback = { _, frame, name, nameLength, value, valueLength, _, userData in
  guard let frame, let name, let value, frame.pointee.hd.type == UInt8(NGHTTP2_HEADERS.rawValue),
    frame.pointee.headers.cat == NGHTTP2_HCAT_REQUEST
  else { return 0 }
  owner(userData).currentDelegate?.session(
    stream: frame.pointee.hd.stream_id, header: UnsafeRawBufferPointer(start: name, count: nameLength),
    value: UnsafeRawBufferPointer(start: value, count: valueLength))
  return 0
}

private let onFrameReceived: nghttp2_on_frame_recv_callback = { _, frame, userData in
  if let frame { owner(userData).frameReceived(frame) }
  return 0
}

private let onDataChunk: nghttp2_on_data_chunk_recv_callback = { _, _, stream, data, length, userData in
  owner(userData).currentDelegate?.session(stream: stream, data: UnsafeRawBufferPointer(start: data, count: length))
  return 0
}

private let onFrameSent: nghttp2_on_frame_send_callback = { _, frame, userData in
  if let frame { owner(userData).frameSent(frame) }
  return 0
}

private let onStreamClose: nghttp2_on_stream_close_callback = { _, stream, errorCode, userData in
  owner(userData).streamClosed(stream, errorCode: errorCode)
  return 0
}

private let readResponseBody: nghttp2_data_source_read_callback = { _, stream, buffer, length, flags, _, userData in
  guard let buffer, let flags else { return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue) }
  return owner(userData).readBody(stream: stream, into: buffer, length: length, flags: flags)
}
