public import PrivacyKit

/// Recomputes the hash chain event by event and stops at the first event that does not verify:
/// an edited event fails its own hash, a deleted one leaves a sequence gap, a reordered one fails
/// its hash (the sequence is hashed) or its link to the previous event.
public struct LedgerVerifier: Sendable {
  private var expected = LedgerHead.empty
  private var checked: UInt64 = 0
  private var broken: (sequence: UInt64, problem: String)?

  public init() {}

  /// Checks the next event of the whole ledger; false once the chain is broken.
  public mutating func check(_ event: LedgerEvent) -> Bool {
    guard broken == nil else { return false }
    checked += 1
    if event.sequence != expected.sequence + 1 {
      broken = (expected.sequence + 1, "sequence gap: expected \(expected.sequence + 1), found \(event.sequence)")
    } else if event.previousHash != expected.hash {
      broken = (event.sequence, "previous hash does not match event \(expected.sequence)")
    } else if let problem = event.integrityProblem {
      broken = (event.sequence, problem)
    }
    expected = LedgerHead(sequence: event.sequence, hash: event.hash)
    return broken == nil
  }

  public var result: ChainVerification {
    ChainVerification(
      valid: broken == nil, entriesChecked: checked, firstBrokenSequence: broken?.sequence,
      problem: broken?.problem ?? "", headHash: broken == nil ? expected.hash : ""
    )
  }

  /// Checks one subject's events, each against its own hash and the stored hash of the event
  /// before it (`predecessor`, nil when missing).
  public static func checkLink(_ event: LedgerEvent, predecessor: LedgerEvent?) -> String? {
    if event.sequence > 1 {
      guard let predecessor, predecessor.sequence == event.sequence - 1 else {
        return "event \(event.sequence - 1) before it is missing"
      }
      if event.previousHash != predecessor.hash { return "previous hash does not match event \(predecessor.sequence)" }
    } else if event.previousHash != HashChain.genesis {
      return "previous hash of the first event is not the genesis hash"
    }
    return event.integrityProblem
  }
}
