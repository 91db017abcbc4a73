/// The requests a load sends, serialized before it starts: call `i` sends request `i`, once.
///
/// The benchmark scripts build them with their own protobuf code (a subject and values of its
/// own per call, spread over a seeded data set however the benchmark needs) and write them to a
/// file; the load's core then only sends. The file is the requests one after the other, each
/// preceded by its length as a 4-byte big-endian integer.
public struct RequestList: Sendable {
  private let bytes: [UInt8]
  /// Where each request starts in `bytes`, and one more entry for the end of the last.
  private let bounds: [Int]

  public init(file bytes: [UInt8]) throws(LoadPlanError) {
    var bounds: [Int] = []
    var position = 0
    while position < bytes.count {
      guard position + 4 <= bytes.count else { throw .truncatedRequests(request: bounds.count) }
      let length = bytes[position..<(position + 4)].reduce(0) { $0 << 8 | Int($1) }
      guard position + 4 + length <= bytes.count else { throw .truncatedRequests(request: bounds.count) }
      bounds.append(position + 4)
      position += 4 + length
    }
    guard !bounds.isEmpty else { throw .noRequests }
    self.bytes = bytes
    self.bounds = bounds
  }

  public var count: Int { bounds.count }

  /// Request `index` (0 ..< `count`).
  public subscript(index: Int) -> ArraySlice<UInt8> {
    let end = index + 1 < bounds.count ? bounds[index + 1] - 4 : bytes.count
    return bytes[bounds[index]..<end]
  }

  /// `requests` in the file's form.
  public static func file(of requests: [[UInt8]]) -> [UInt8] {
    var file: [UInt8] = []
    for request in requests {
      let length = UInt32(request.count)
      file += [UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)]
      file += request
    }
    return file
  }
}
