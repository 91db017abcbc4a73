import PrivacyKit
import Foundation

/// A stored subject state that this binary cannot read (another format, or damaged bytes). The
/// states are derived from the ledger, so the ledger rebuilds them rather than failing.
public struct SubjectStateUnreadable: Error, Equatable {
  public init() {}
}

/// The compact binary form of a `SubjectState`, stored beside the ledger so the service starts by
/// reading one row per subject instead of replaying every event. Enum values are stored by their
/// raw names (the ledger's own spelling), integers in LEB128; the first byte is the format.
extension SubjectState {
  static let codingFormat: UInt8 = 1

  public func encoded() -> [UInt8] {
    var out = StateWriter()
    out.byte(Self.codingFormat)
    out.integer(lastSequence)
    out.text(optInStatus.rawValue)
    out.text(age.rawValue)
    out.byte((restricted ? 1 : 0) | (erased ? 2 : 0))
    out.text(restrictionReason)
    out.integer(UInt64(decisions.count))
    for (purposeID, record) in decisions.sorted(by: { $0.key < $1.key }) {
      out.text(purposeID)
      out.text(record.decision.rawValue)
      out.text(record.legalBasis?.rawValue ?? "")
      out.integer(record.sequence)
      out.integer(UInt64(bitPattern: Microseconds(record.decidedAt).value))
      out.text(record.noticeVersion)
    }
    out.integer(UInt64(subscriptions.count))
    for (listID, record) in subscriptions.sorted(by: { $0.key < $1.key }) {
      out.text(listID)
      out.byte(record.subscribed ? 1 : 0)
      out.integer(record.sequence)
    }
    return out.bytes
  }

  public init(encoded bytes: some Collection<UInt8>) throws(SubjectStateUnreadable) {
    var reader = StateReader(Array(bytes))
    guard try reader.byte() == Self.codingFormat else { throw SubjectStateUnreadable() }
    self.init()
    lastSequence = try reader.integer()
    optInStatus = try reader.value()
    age = try reader.value()
    let flags = try reader.byte()
    restricted = flags & 1 != 0
    erased = flags & 2 != 0
    restrictionReason = try reader.text()
    for _ in 0..<(try reader.count()) {
      let purposeID = try reader.text()
      let decision: Decision = try reader.value()
      let basis = try reader.text()
      let legalBasis: LegalBasis?
      if basis.isEmpty {
        legalBasis = nil
      } else {
        guard let value = LegalBasis(rawValue: basis) else { throw SubjectStateUnreadable() }
        legalBasis = value
      }
      let sequence = try reader.integer()
      let decidedAt = Microseconds(value: Int64(bitPattern: try reader.integer())).date
      decisions[purposeID] = DecisionRecord(
        decision: decision, legalBasis: legalBasis, sequence: sequence, decidedAt: decidedAt, noticeVersion: try reader.text())
    }
    for _ in 0..<(try reader.count()) {
      let listID = try reader.text()
      subscriptions[listID] = SubscriptionRecord(subscribed: try reader.byte() == 1, sequence: try reader.integer())
    }
    guard reader.atEnd else { throw SubjectStateUnreadable() }
  }
}

private struct StateWriter {
  var bytes: [UInt8] = []

  mutating func byte(_ value: UInt8) { bytes.append(value) }

  mutating func integer(_ value: UInt64) {
    var value = value
    while value >= 0x80 {
      bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
      value >>= 7
    }
    bytes.append(UInt8(value))
  }

  mutating func text(_ value: String) {
    let utf8 = value.utf8
    integer(UInt64(utf8.count))
    bytes.append(contentsOf: utf8)
  }
}

private struct StateReader {
  private let bytes: [UInt8]
  private var position = 0

  init(_ bytes: [UInt8]) { self.bytes = bytes }

  var atEnd: Bool { position == bytes.count }

  mutating func byte() throws(SubjectStateUnreadable) -> UInt8 {
    guard position < bytes.count else { throw SubjectStateUnreadable() }
    defer { position += 1 }
    return bytes[position]
  }

  mutating func integer() throws(SubjectStateUnreadable) -> UInt64 {
    var value: UInt64 = 0
    for shift in stride(from: 0, to: 64, by: 7) {
      let byte = try byte()
      value |= UInt64(byte & 0x7f) << UInt64(shift)
      if byte & 0x80 == 0 { return value }
    }
    throw SubjectStateUnreadable()
  }

  /// A count of entries that follow; each takes at least two bytes, so a count the rest cannot
  /// hold is damage, not a reason to loop.
  mutating func count() throws(SubjectStateUnreadable) -> Int {
    let count = try integer()
    guard count <= UInt64(bytes.count - position) / 2 else { throw SubjectStateUnreadable() }
    return Int(count)
  }

  mutating func text() throws(SubjectStateUnreadable) -> String {
    let length = try integer()
    guard length <= UInt64(bytes.count - position) else { throw SubjectStateUnreadable() }
    let end = position + Int(length)
    defer { position = end }
    return String(decoding: bytes[position..<end], as: UTF8.self)
  }

  mutating func value<T: RawRepresentable<String>>() throws(SubjectStateUnreadable) -> T {
    guard let value = T(rawValue: try text()) else { throw SubjectStateUnreadable() }
    return value
  }
}
