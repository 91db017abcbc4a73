import NIOCore

/// gRPC's length-prefixed messages (PROTOCOL-HTTP2.md): a compressed flag byte, a 4-byte
/// big-endian length, then that many bytes. Messages may be split across DATA frames any way.
package struct MessageDeframer {
  package enum Failure: Error, Equatable {
    /// The prefix announces more than the limit; found before its bytes are buffered.
    case tooLarge(announced: Int, limit: Int)
    /// The compressed flag is set, but no compression was negotiated.
    case compressed
  }

  package let maxMessageBytes: Int
  private var buffer = ByteBuffer()

  package init(maxMessageBytes: Int) {
    self.maxMessageBytes = maxMessageBytes
  }

  /// Bytes received and not yet handed out as a message.
  package var bufferedBytes: Int { buffer.readableBytes }

  package mutating func append(_ bytes: UnsafeRawBufferPointer) {
    buffer.writeBytes(bytes)
  }

  /// The next complete message, or nil until one has fully arrived.
  package mutating func next() throws(Failure) -> [UInt8]? {
    guard let flag = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self),
      let length = buffer.getInteger(at: buffer.readerIndex + 1, as: UInt32.self)
    else { return nil }
    guard flag == 0 else { throw .compressed }
    guard Int(length) <= maxMessageBytes else { throw .tooLarge(announced: Int(length), limit: maxMessageBytes) }
    guard buffer.readableBytes >= 5 + Int(length) else { return nil }
    buffer.moveReaderIndex(forwardBy: 5)
    let message = buffer.readBytes(length: Int(length))!
    if buffer.readableBytes == 0 { buffer.clear() }
    return message
  }
}

enum MessageFramer {
  /// Appends `message` with its prefix (uncompressed).
  static func frame(_ message: some Collection<UInt8>, into buffer: inout ByteBuffer) {
    buffer.writeInteger(UInt8(0))
    buffer.writeInteger(UInt32(message.count))
    buffer.writeBytes(message)
  }
}
