import PrivacyKit
import Foundation

/// A stored subject state that this binary cannot read (another format, or damaged bytes). The
/// states are derived from the ledger, so the ledger rebuilds them rather than failing.
public struct SubjectStateUnreadable: Error, Equatable {
  public init() {}
}

/// The compact binary form of a `SubjectState`, stored beside the ledger so the service starts by
/// reading one row per subject instead of replaying every event, and held in memory as it is
/// (`PackedSubjectState`). Integers are LEB128; the first byte is the format. Format 2 (written
/// now) stores enum values as one-byte codes (`StoredEnum`); format 1 stored their raw names and
/// is still read, so states kept by an older binary need no rebuild.
extension SubjectState {
  static let codingFormat: UInt8 = 2

  public func encoded() -> [UInt8] {
    var out = StateWriter()
    out.byte(Self.codingFormat)
    out.integer(lastSequence)
    out.byte(optInStatus.code)
    out.byte(age.code)
    out.byte((restricted ? 1 : 0) | (erased ? 2 : 0))
    out.text(restrictionReason)
    out.integer(UInt64(decisions.count))
    for (purposeID, record) in decisions.sorted(by: { $0.key < $1.key }) {
      out.text(purposeID)
      out.byte(record.decision.code)
      out.byte(record.legalBasis?.code ?? 0)
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
    var builder = StateBuilder(bytes: Array(bytes))
    try Self.walk(builder.bytes, &builder)
    self = builder.state
  }

  /// Reads an encoded state part by part, handing each to `visitor`: the one reader behind
  /// decoding (`init(encoded:)`), validating (`PackedSubjectState`) and answering from the bytes.
  /// Throws on anything `encoded()` cannot have written.
  static func walk(_ bytes: [UInt8], _ visitor: inout some EncodedStateVisitor) throws(SubjectStateUnreadable) {
    var reader = StateReader(bytes)
    reader.format = try reader.byte()
    guard reader.format == 1 || reader.format == codingFormat else { throw SubjectStateUnreadable() }
    let lastSequence = try reader.integer()
    let optInStatus: OptInStatus = try reader.value()
    let age: SubjectAge = try reader.value()
    let flags = try reader.byte()
    visitor.header(
      lastSequence: lastSequence, optInStatus: optInStatus, age: age, restricted: flags & 1 != 0, erased: flags & 2 != 0,
      restrictionReason: try reader.text())
    for _ in 0..<(try reader.count()) {
      let purposeID = try reader.text()
      let decision: Decision = try reader.value()
      let legalBasis: LegalBasis? = try reader.optionalValue()
      let sequence = try reader.integer()
      let decidedAt = Int64(bitPattern: try reader.integer())
      visitor.decision(
        purposeID: purposeID, decision: decision, legalBasis: legalBasis, sequence: sequence, decidedAt: decidedAt,
        noticeVersion: try reader.text())
    }
    for _ in 0..<(try reader.count()) {
      let listID = try reader.text()
      visitor.subscription(listID: listID, subscribed: try reader.byte() == 1, sequence: try reader.integer())
    }
    guard reader.atEnd else { throw SubjectStateUnreadable() }
  }
}

/// What `SubjectState.walk` hands over, in the order the bytes hold it. Texts come as ranges of
/// the bytes, so a visitor that does not need them makes no string.
protocol EncodedStateVisitor {
  mutating func header(
    lastSequence: UInt64, optInStatus: OptInStatus, age: SubjectAge, restricted: Bool, erased: Bool, restrictionReason: Range<Int>)
  mutating func decision(
    purposeID: Range<Int>, decision: Decision, legalBasis: LegalBasis?, sequence: UInt64, decidedAt: Int64, noticeVersion: Range<Int>)
  mutating func subscription(listID: Range<Int>, subscribed: Bool, sequence: UInt64)
}

/// Rebuilds the whole `SubjectState`.
private struct StateBuilder: EncodedStateVisitor {
  let bytes: [UInt8]
  var state = SubjectState()

  func text(_ range: Range<Int>) -> String { String(decoding: bytes[range], as: UTF8.self) }

  mutating func header(
    lastSequence: UInt64, optInStatus: OptInStatus, age: SubjectAge, restricted: Bool, erased: Bool, restrictionReason: Range<Int>
  ) {
    state.lastSequence = lastSequence
    state.optInStatus = optInStatus
    state.age = age
    state.restricted = restricted
    state.erased = erased
    state.restrictionReason = text(restrictionReason)
  }

  mutating func decision(
    purposeID: Range<Int>, decision: Decision, legalBasis: LegalBasis?, sequence: UInt64, decidedAt: Int64, noticeVersion: Range<Int>
  ) {
    state.decisions[text(purposeID)] = DecisionRecord(
      decision: decision, legalBasis: legalBasis, sequence: sequence, decidedAt: Microseconds(value: decidedAt).date,
      noticeVersion: text(noticeVersion))
  }

  mutating func subscription(listID: Range<Int>, subscribed: Bool, sequence: UInt64) {
    state.subscriptions[text(listID)] = SubscriptionRecord(subscribed: subscribed, sequence: sequence)
  }
}

/// An enum kept in a stored state by a one-byte code. Codes are stored: never reuse or change one;
/// a new case takes the next. 0 is no value.
protocol StoredEnum: RawRepresentable<String>, CaseIterable, Equatable {
  var code: UInt8 { get }
}

extension Decision: StoredEnum {
  var code: UInt8 {
    switch self {
    case .granted: 1
    case .denied: 2
    case .withdrawn: 3
    }
  }
}

extension LegalBasis: StoredEnum {
  var code: UInt8 {
    switch self {
    case .consent: 1
    case .contract: 2
    case .legalObligation: 3
    case .vitalInterests: 4
    case .publicTask: 5
    case .legitimateInterests: 6
    }
  }
}

extension OptInStatus: StoredEnum {
  var code: UInt8 {
    switch self {
    case .none: 1
    case .singleOptInUser: 2
    case .singleOptInWebform: 3
    case .doubleOptIn: 4
    case .optOutUser: 5
    case .optOutContact: 6
    }
  }
}

extension SubjectAge: StoredEnum {
  var code: UInt8 {
    switch self {
    case .unspecified: 1
    case .child: 2
    case .adult: 3
    }
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

/// Reads the parts of an encoded state; throws at the first thing `encoded()` cannot have written.
struct StateReader {
  private let bytes: [UInt8]
  private var position = 0
  /// The format being read (its first byte), which decides how enum values are spelled.
  var format: UInt8 = 0

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

  /// Where the next text lies in the bytes.
  mutating func text() throws(SubjectStateUnreadable) -> Range<Int> {
    let length = try integer()
    guard length <= UInt64(bytes.count - position) else { throw SubjectStateUnreadable() }
    let end = position + Int(length)
    defer { position = end }
    return position..<end
  }

  /// An enum value: its code (format 2) or its raw name (format 1).
  mutating func value<T: StoredEnum>() throws(SubjectStateUnreadable) -> T {
    guard let value: T = try optionalValue() else { throw SubjectStateUnreadable() }
    return value
  }

  /// An enum value that may be absent: code 0 (format 2) or an empty name (format 1).
  mutating func optionalValue<T: StoredEnum>() throws(SubjectStateUnreadable) -> T? {
    if format == 1 {
      let range = try text()
      if range.isEmpty { return nil }
      guard let value = T.allCases.first(where: { spells($0.rawValue, range) }) else { throw SubjectStateUnreadable() }
      return value
    }
    let code = try byte()
    if code == 0 { return nil }
    guard let value = T.allCases.first(where: { $0.code == code }) else { throw SubjectStateUnreadable() }
    return value
  }

  /// Compared byte by byte: a start-up reads millions of these, and making a string of each cost
  /// more than the rest of the read.
  private func spells(_ name: String, _ range: Range<Int>) -> Bool {
    var name = name
    guard name.utf8.count == range.count else { return false }
    guard !range.isEmpty else { return true }
    return name.withUTF8 { name in
      bytes.withUnsafeBufferPointer { memcmp(name.baseAddress!, $0.baseAddress! + range.lowerBound, range.count) == 0 }
    }
  }
}
