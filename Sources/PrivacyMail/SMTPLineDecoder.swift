import NIOCore

/// Splits what the server sends into reply lines, without their CRLF (a bare LF is taken too).
/// A line longer than `maximumLength` is not SMTP (RFC 5321 allows 512 octets).
struct SMTPLineDecoder: ByteToMessageDecoder {
  typealias InboundOut = ByteBuffer
  static let maximumLength = 4096

  mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
    guard let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
      guard buffer.readableBytes <= Self.maximumLength else { throw SMTPFailure.protocolViolation("a reply line over 4 KiB") }
      return .needMoreData
    }
    let length = newline - buffer.readerIndex
    guard length <= Self.maximumLength, var line = buffer.readSlice(length: length) else {
      throw SMTPFailure.protocolViolation("a reply line over 4 KiB")
    }
    buffer.moveReaderIndex(forwardBy: 1)
    if line.readableBytesView.last == UInt8(ascii: "\r") { line = line.getSlice(at: line.readerIndex, length: line.readableBytes - 1)! }
    context.fireChannelRead(Self.wrapInboundOut(line))
    return .continue
  }

  mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
    while try decode(context: context, buffer: &buffer) == .continue {}
    return .needMoreData
  }
}
