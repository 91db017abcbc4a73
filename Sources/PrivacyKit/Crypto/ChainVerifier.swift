/// An entry of a hash-chained log (the consent ledger, the gateway's audit log, the vault's
/// access log), as the verifier sees it.
public protocol ChainedEntry {
  var sequence: UInt64 { get }
  var previousHash: String { get }
  var hash: String { get }
  /// The hash recomputed from the entry's content and `previousHash`.
  var computedHash: String { get }
  /// What is wrong with the entry on its own, or nil when it is intact. By default: its content
  /// against its hash; a log with more to check (the ledger's evidence digests) adds to it.
  var integrityProblem: String? { get }
}

extension ChainedEntry {
  public var integrityProblem: String? {
    computedHash == hash ? nil : "content does not match its hash"
  }
}

/// The end of a hash-chained log: the last sequence and its hash, where the next entry links.
public struct ChainHead: Sendable, Equatable {
  public var sequence: UInt64
  public var hash: String

  public static let empty = ChainHead(sequence: 0, hash: HashChain.genesis)

  public init(sequence: UInt64, hash: String) {
    self.sequence = sequence
    self.hash = hash
  }

  public init(_ entry: some ChainedEntry) {
    self.init(sequence: entry.sequence, hash: entry.hash)
  }
}

/// Recomputes a chain entry by entry and stops at the first entry that does not verify: an
/// edited entry fails its hash, a deleted one leaves a sequence gap, a reordered one fails its
/// hash (the sequence is hashed) or its link, a truncated tail falls short of the head the writer
/// last wrote (`finish(knownHead:)`).
public struct ChainVerifier: Sendable {
  private var expected = ChainHead.empty
  private var checked: UInt64 = 0
  private var broken: (sequence: UInt64, problem: String)?

  public init() {}

  /// Checks the next entry; false once the chain is broken.
  @discardableResult
  public mutating func check(_ entry: some ChainedEntry) -> Bool {
    guard broken == nil else { return false }
    checked += 1
    if entry.sequence != expected.sequence + 1 {
      broken = (expected.sequence + 1, "sequence gap: expected \(expected.sequence + 1), found \(entry.sequence)")
    } else if entry.previousHash != expected.hash {
      broken = (entry.sequence, "previous hash does not match entry \(expected.sequence)")
    } else if let problem = entry.integrityProblem {
      broken = (entry.sequence, problem)
    }
    expected = ChainHead(entry)
    return broken == nil
  }

  /// Records a row that could not be read back (a column holds a value no writer wrote) as the break.
  public mutating func unreadable(sequence: UInt64, column: String) {
    guard broken == nil else { return }
    checked += 1
    broken = (sequence, Self.unreadableProblem(sequence: sequence, column: column))
  }

  static func unreadableProblem(sequence: UInt64, column: String) -> String {
    "entry \(sequence) is unreadable: column \(column) holds an unknown value"
  }

  /// Notes that the log ends before `knownHead`, the last entry its writer committed.
  public mutating func finish(knownHead: UInt64) {
    guard broken == nil, expected.sequence < knownHead else { return }
    broken = (expected.sequence + 1, "entries after \(expected.sequence) are missing; the log reached \(knownHead)")
  }

  /// Checks one entry of a filtered view of the chain (one subject's entries) against its own
  /// content and the stored entry just before it in the whole chain (`predecessor`, nil when
  /// there is none); returns the problem, or nil.
  public static func checkLink<Entry: ChainedEntry>(_ entry: Entry, predecessor: Entry?) -> String? {
    if entry.sequence > 1 {
      guard let predecessor, predecessor.sequence == entry.sequence - 1 else {
        return "entry \(entry.sequence - 1) before it is missing"
      }
      if entry.previousHash != predecessor.hash { return "previous hash does not match entry \(predecessor.sequence)" }
    } else if entry.previousHash != HashChain.genesis {
      return "previous hash of the first entry is not the genesis hash"
    }
    return entry.integrityProblem
  }

  public var result: ChainVerification {
    ChainVerification(
      valid: broken == nil, entriesChecked: checked, firstBrokenSequence: broken?.sequence,
      problem: broken?.problem ?? "", headHash: broken == nil ? expected.hash : "")
  }
}

/// The outcome of recomputing a hash-chained log.
public struct ChainVerification: Sendable, Equatable {
  public var valid: Bool
  public var entriesChecked: UInt64
  /// The first entry that does not verify; nil when valid.
  public var firstBrokenSequence: UInt64?
  public var problem: String
  public var headHash: String

  /// A verification that stopped at an entry it could not read back.
  public static func unreadable(sequence: UInt64, column: String, checked: UInt64) -> ChainVerification {
    ChainVerification(
      valid: false, entriesChecked: checked, firstBrokenSequence: sequence,
      problem: ChainVerifier.unreadableProblem(sequence: sequence, column: column), headHash: "")
  }

  public init(valid: Bool, entriesChecked: UInt64, firstBrokenSequence: UInt64?, problem: String, headHash: String) {
    self.valid = valid
    self.entriesChecked = entriesChecked
    self.firstBrokenSequence = firstBrokenSequence
    self.problem = problem
    self.headHash = headHash
  }
}
