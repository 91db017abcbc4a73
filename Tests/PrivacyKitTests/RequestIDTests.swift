import Foundation
import PrivacyKit
import Testing

@Suite("Request ids")
struct RequestIDTests {
  @Test("a request id is a version 7 UUID; ids of later milliseconds sort after earlier ones; no two alike")
  func timeOrdered() async throws {
    var ids: [String] = []
    for _ in 0..<5 {
      ids += (0..<200).map { _ in RequestID.make() }
      try await Task.sleep(for: .milliseconds(2))
    }
    for id in ids {
      let uuid = try #require(UUID(uuidString: id))
      #expect(uuid.uuidString.lowercased() == id)
      #expect(uuid.uuid.6 >> 4 == 7 && uuid.uuid.8 >> 6 == 0b10, "\(id)")
    }
    #expect(Set(ids).count == ids.count)
    // The first 48 bits are the time: ids 200 calls and 2 ms apart are in order.
    for index in stride(from: 200, to: ids.count, by: 200) {
      #expect(ids[index - 200] < ids[index])
    }
    let milliseconds = UInt64(ids[0].replacingOccurrences(of: "-", with: "").prefix(12), radix: 16)!
    #expect(abs(Double(milliseconds) - Date().timeIntervalSince1970 * 1000) < 60_000)
  }
}
