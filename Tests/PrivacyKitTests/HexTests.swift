import Foundation
import PrivacyKit
import Testing

/// Every chain hash is stored and compared as this text, so its form must never change.
@Suite("Hex")
struct HexTests {
  @Test("lower-case, two digits a byte, leading zeros kept")
  func hex() {
    #expect([UInt8]().hex == "")
    #expect([0x00, 0x0f, 0xa0, 0xff].hex == "000fa0ff")
    let every = (0...255).map { UInt8($0) }
    #expect(every.hex == every.map { String(format: "%02x", $0) }.joined())
  }
}
