public import Foundation
import PrivacyKit

/// One subject's state as memory holds it: the bytes `SubjectState.encoded()` writes, which the
/// stores keep too. A replica holds a state for every subject, millions of them: one buffer a
/// subject takes about a third of the memory of a `SubjectState` and its dictionaries (measured:
/// 242 instead of 686 MiB for 1,000,000 subjects with four decisions each), and loading one is a
/// copy and a check instead of a rebuild. The hot reads (`facts(for:)`) walk the bytes
/// without building the state; a write unpacks, applies its events and packs again.
public struct PackedSubjectState: Sendable, Equatable {
  public let bytes: [UInt8]

  /// Checks the bytes as `SubjectState(encoded:)` reads them, so that `unpacked()` cannot fail.
  public init(validating bytes: [UInt8]) throws(SubjectStateUnreadable) {
    var nothing = IgnoringVisitor()
    try SubjectState.walk(bytes, &nothing)
    self.bytes = bytes
  }

  public init(_ state: SubjectState) {
    bytes = state.encoded()
  }

  public func unpacked() -> SubjectState {
    readable { () throws(SubjectStateUnreadable) in try SubjectState(encoded: bytes) }
  }

  /// The sequence of the subject's last event: the integer after the format byte.
  public var lastSequence: UInt64 {
    readable { () throws(SubjectStateUnreadable) in
      var reader = StateReader(bytes)
      _ = try reader.byte()
      return try reader.integer()
    }
  }

  /// What the rules read of the state for one purpose (`purposeID` nil: none).
  public func facts(for purposeID: String?) -> SubjectFacts {
    var visitor = FactsVisitor(bytes: bytes, purposeID: purposeID)
    readable { () throws(SubjectStateUnreadable) in try SubjectState.walk(bytes, &visitor) }
    return visitor.facts
  }

  /// Reads the bytes, which cannot fail: both initializers check them with the same reader.
  private func readable<T>(_ read: () throws(SubjectStateUnreadable) -> T) -> T {
    do {
      return try read()
    } catch {
      preconditionFailure("a packed subject state is readable by construction")
    }
  }
}

/// What the consent rules and the subject filter read of a subject's state for one purpose.
public struct SubjectFacts: Sendable, Equatable {
  public var erased = false
  public var restricted = false
  public var optInStatus = OptInStatus.none
  public var lastSequence: UInt64 = 0
  /// The latest decision on the purpose asked about.
  public var record: DecisionRecord?
}

extension SubjectState {
  public func facts(for purposeID: String?) -> SubjectFacts {
    SubjectFacts(
      erased: erased, restricted: restricted, optInStatus: optInStatus, lastSequence: lastSequence,
      record: purposeID.flatMap { decisions[$0] })
  }
}

private struct IgnoringVisitor: EncodedStateVisitor {
  func header(
    lastSequence: UInt64, optInStatus: OptInStatus, age: SubjectAge, restricted: Bool, erased: Bool, restrictionReason: Range<Int>
  ) {}
  func decision(
    purposeID: Range<Int>, decision: Decision, legalBasis: LegalBasis?, sequence: UInt64, decidedAt: Int64, noticeVersion: Range<Int>
  ) {}
  func subscription(listID: Range<Int>, subscribed: Bool, sequence: UInt64) {}
}

private struct FactsVisitor: EncodedStateVisitor {
  let bytes: [UInt8]
  let purposeID: String?
  var facts = SubjectFacts()

  mutating func header(
    lastSequence: UInt64, optInStatus: OptInStatus, age: SubjectAge, restricted: Bool, erased: Bool, restrictionReason: Range<Int>
  ) {
    facts.lastSequence = lastSequence
    facts.optInStatus = optInStatus
    facts.restricted = restricted
    facts.erased = erased
  }

  mutating func decision(
    purposeID: Range<Int>, decision: Decision, legalBasis: LegalBasis?, sequence: UInt64, decidedAt: Int64, noticeVersion: Range<Int>
  ) {
    guard let wanted = self.purposeID, wanted.utf8.elementsEqual(bytes[purposeID]) else { return }
    facts.record = DecisionRecord(
      decision: decision, legalBasis: legalBasis, sequence: sequence, decidedAt: Microseconds(value: decidedAt).date,
      noticeVersion: String(decoding: bytes[noticeVersion], as: UTF8.self))
  }

  func subscription(listID: Range<Int>, subscribed: Bool, sequence: UInt64) {}
}
