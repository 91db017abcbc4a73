import Foundation
package import GRPCCore

/// A request's header block as it arrives, and what gRPC's rules (PROTOCOL-HTTP2.md) make of it:
/// a call to dispatch, or a refusal with a status.
package struct RequestHead {
  /// Largest header block accepted, counted as HTTP/2 counts a header list (name + value + 32 per
  /// field). Above it the call is refused with a status, not a dropped connection.
  package let maxBytes: Int
  package private(set) var size = 0
  private var method: String?
  private var path: String?
  private var contentType: String?
  private var encoding: String?
  private var metadata = Metadata()

  package init(maxBytes: Int) {
    self.maxBytes = maxBytes
  }

  package mutating func add(name nameBytes: UnsafeRawBufferPointer, value valueBytes: UnsafeRawBufferPointer) {
    size += nameBytes.count + valueBytes.count + 32
    guard size <= maxBytes else { return }
    let name = String(decoding: nameBytes, as: UTF8.self)
    let value = String(decoding: valueBytes, as: UTF8.self)
    switch name {
    case ":method": method = value
    case ":path": path = value
    case ":scheme", ":authority": break
    default:
      if name == "content-type" { contentType = value }
      if name == "grpc-encoding" { encoding = value }
      if name.hasSuffix("-bin"), let bytes = Base64.decode(value) {
        metadata.addBinary(bytes, forKey: name)
      } else {
        metadata.addString(value, forKey: name)
      }
    }
  }

  /// What to do with the request.
  package enum Verdict {
    case call(MethodDescriptor, Metadata)
    /// Answer at once: `httpStatus` 200 with a gRPC status, or an HTTP error for what is no gRPC
    /// call at all.
    case refuse(httpStatus: Int, status: Status, headers: [(String, String)])
  }

  package var verdict: Verdict {
    if size > maxBytes {
      return refusal(
        .resourceExhausted, "request metadata of \(size) bytes exceeds the limit of \(maxBytes) bytes")
    }
    guard method == "POST" else { return refusal(.unimplemented, "gRPC calls use POST", httpStatus: 405) }
    guard let contentType, Self.isGRPC(contentType: contentType) else {
      return refusal(.invalidArgument, "content-type must be application/grpc", httpStatus: 415)
    }
    guard let path, let descriptor = Self.descriptor(path: path) else {
      return refusal(.unimplemented, "no method at this path")
    }
    if let encoding, encoding != "identity" {
      return .refuse(
        httpStatus: 200, status: Status(code: .unimplemented, message: "grpc-encoding \(encoding.prefix(32)) is not supported"),
        headers: [("grpc-accept-encoding", "identity")])
    }
    return .call(descriptor, metadata)
  }

  private func refusal(_ code: Status.Code, _ message: String, httpStatus: Int = 200) -> Verdict {
    .refuse(httpStatus: httpStatus, status: Status(code: code, message: message), headers: [])
  }

  /// `application/grpc`, optionally `+proto` (or another format) or parameters after `;`.
  static func isGRPC(contentType: String) -> Bool {
    guard contentType.hasPrefix("application/grpc") else { return false }
    let rest = contentType.dropFirst("application/grpc".count)
    return rest.isEmpty || rest.first == "+" || rest.first == ";"
  }

  /// `/package.Service/Method` as a method descriptor.
  static func descriptor(path: String) -> MethodDescriptor? {
    // Read as bytes: every call's path passes here.
    let slash = UInt8(ascii: "/")
    let utf8 = path.utf8
    guard utf8.first == slash else { return nil }
    let serviceStart = utf8.index(after: utf8.startIndex)
    guard let serviceEnd = utf8[serviceStart...].firstIndex(of: slash), serviceEnd != serviceStart else { return nil }
    let methodStart = utf8.index(after: serviceEnd)
    guard methodStart != utf8.endIndex, !utf8[methodStart...].contains(slash) else { return nil }
    return MethodDescriptor(fullyQualifiedService: String(path[serviceStart..<serviceEnd]), method: String(path[methodStart...]))
  }
}

/// Base64 as gRPC sends binary metadata: padding optional (PROTOCOL-HTTP2.md).
enum Base64 {
  static func decode(_ text: String) -> [UInt8]? {
    var padded = text
    let remainder = padded.utf8.count % 4
    if remainder == 1 { return nil }
    if remainder > 0 { padded += String(repeating: "=", count: 4 - remainder) }
    return Data(base64Encoded: padded).map(Array.init)
  }

  /// Without padding, as gRPC implementations send it.
  static func encode(_ bytes: [UInt8]) -> String {
    var text = Data(bytes).base64EncodedString()
    while text.last == "=" { text.removeLast() }
    return text
  }
}
