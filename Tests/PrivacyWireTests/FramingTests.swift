import GRPCCore
import Testing

@testable import PrivacyWire

@Suite("gRPC framing and request heads")
struct FramingTests {
  func feed(_ deframer: inout MessageDeframer, _ bytes: [UInt8]) {
    bytes.withUnsafeBytes { deframer.append($0) }
  }

  @Test("messages split across chunks any way come out whole, in order")
  func splitMessages() throws {
    var framed = ByteBufferOf()
    framed.append([1, 2, 3])
    framed.append([])
    framed.append(Array(repeating: 9, count: 70_000))
    var deframer = MessageDeframer(maxMessageBytes: 100_000)
    var messages: [[UInt8]] = []
    for chunk in framed.bytes.chunks(ofCount: 7) {
      feed(&deframer, Array(chunk))
      while let message = try deframer.next() { messages.append(message) }
    }
    #expect(messages == [[1, 2, 3], [], Array(repeating: 9, count: 70_000)])
    #expect(deframer.bufferedBytes == 0)
  }

  @Test("a prefix announcing more than the limit fails before its bytes arrive; a compressed flag fails")
  func limits() {
    var deframer = MessageDeframer(maxMessageBytes: 4 * 1024 * 1024)
    feed(&deframer, [0, 0x01, 0x40, 0x00, 0x00])  // 20 MiB announced, nothing sent
    #expect(throws: MessageDeframer.Failure.tooLarge(announced: 20 * 1024 * 1024, limit: 4 * 1024 * 1024)) { try deframer.next() }
    var exact = MessageDeframer(maxMessageBytes: 3)
    feed(&exact, [0, 0, 0, 0, 3, 7, 7])
    #expect(throws: Never.self) { try exact.next() }
    var compressed = MessageDeframer(maxMessageBytes: 10)
    feed(&compressed, [1, 0, 0, 0, 1, 5])
    #expect(throws: MessageDeframer.Failure.compressed) { try compressed.next() }
  }

  func head(_ headers: [(String, String)], maxBytes: Int = 16_384) -> RequestHead {
    var head = RequestHead(maxBytes: maxBytes)
    for (name, value) in headers {
      Array(name.utf8).withUnsafeBytes { name in Array(value.utf8).withUnsafeBytes { value in head.add(name: name, value: value) } }
    }
    return head
  }

  static let call = [
    (":method", "POST"), (":scheme", "http"), (":path", "/pkg.Service/Method"), (":authority", "x"),
    ("content-type", "application/grpc+proto"), ("te", "trailers"),
  ]

  @Test("a well-formed request becomes a call with its metadata, binary values decoded")
  func call() throws {
    let verdict = head(Self.call + [("x-trace-bin", "AAEC"), ("x-actor", "ann")]).verdict
    guard case .call(let descriptor, let metadata) = verdict else {
      Issue.record("refused: \(verdict)")
      return
    }
    #expect(descriptor == MethodDescriptor(fullyQualifiedService: "pkg.Service", method: "Method"))
    #expect(Array(metadata[binaryValues: "x-trace-bin"]) == [[0, 1, 2]])
    #expect(Array(metadata[stringValues: "x-actor"]) == ["ann"])
  }

  @Test("what breaks gRPC's rules is refused with the status it deserves", arguments: [
    ([(":method", "GET")], 405, Status.Code.unimplemented),
    ([("content-type", "text/html")], 415, .invalidArgument),
    ([("content-type", "application/grpc-web")], 415, .invalidArgument),
    ([(":path", "/nothing")], 200, .unimplemented),
    ([("grpc-encoding", "gzip")], 200, .unimplemented),
    ([("x-big", String(repeating: "a", count: 20_000))], 200, .resourceExhausted),
  ])
  func refusals(_ override: [(String, String)], _ httpStatus: Int, _ code: Status.Code) {
    let names = Set(override.map(\.0))
    let verdict = head(Self.call.filter { !names.contains($0.0) } + override).verdict
    guard case .refuse(let http, let status, _) = verdict else {
      Issue.record("accepted \(override)")
      return
    }
    #expect(http == httpStatus && status.code == code, "\(status)")
  }

  @Test("metadata over the limit is named with its size, and the limit")
  func oversizedMetadata() {
    let verdict = head(Self.call + [("x-big", String(repeating: "a", count: 20_000))]).verdict
    guard case .refuse(_, let status, _) = verdict else {
      Issue.record("accepted")
      return
    }
    #expect(status.message.hasPrefix("request metadata of ") && status.message.hasSuffix("exceeds the limit of 16384 bytes"))
  }

  @Test("grpc-message is percent-encoded outside printable ASCII; binary metadata is unpadded base64 both ways")
  func encodings() {
    #expect(WireConnection.percentEncoded("ok 100% \u{e9}\n") == "ok 100%25 %C3%A9%0A")
    #expect(Base64.encode([0xff]) == "/w")
    #expect(Base64.decode("/w") == [0xff] && Base64.decode("/w==") == [0xff])
    #expect(Base64.decode("a") == nil)
  }
}

/// Builds a gRPC request body for the deframer tests.
struct ByteBufferOf {
  var bytes: [UInt8] = []
  mutating func append(_ message: [UInt8]) {
    bytes += [0] + withUnsafeBytes(of: UInt32(message.count).bigEndian, Array.init) + message
  }
}

extension Array {
  func chunks(ofCount count: Int) -> [ArraySlice<Element>] {
    stride(from: 0, to: self.count, by: count).map { self[$0..<Swift.min($0 + count, self.count)] }
  }
}
