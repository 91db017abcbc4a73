public import Foundation
public import PrivacyKit

/// What an access-log entry records.
public enum AccessKind: String, Sendable, CaseIterable {
  case reveal
  case export
  case write
  case rectification
  case erasure
  case lock
  case unlock
  case restrict
  case unrestrict
  case humanReviewSet = "human_review_set"
  case humanReviewCleared = "human_review_cleared"
  case generalization
  case release
}

/// What a rule decides to log; the core gives it a sequence, a time, the caller and a hash.
public struct AccessDraft: Sendable, Equatable {
  public var kind: AccessKind
  public var subjectID: String
  public var field: String
  public var reason: String
  public var detail: String

  public init(_ kind: AccessKind, subjectID: String, field: String = "", reason: String = "", detail: String = "") {
    self.kind = kind
    self.subjectID = subjectID
    self.field = field
    self.reason = reason
    self.detail = detail
  }
}

/// One entry of the hash-chained access log. Never holds a value.
public struct AccessLogEntry: ChainedEntry, Sendable, Equatable {
  public var sequence: UInt64
  public var kind: AccessKind
  public var subjectID: String
  public var field: String
  public var actor: String
  public var role: String
  public var reason: String
  public var requestID: String
  public var detail: String
  public var occurredAt: Date
  public var previousHash: String
  public var hash: String

  public init(
    sequence: UInt64, kind: AccessKind, subjectID: String, field: String, actor: String, role: String, reason: String,
    requestID: String, detail: String, occurredAt: Date, previousHash: String, hash: String
  ) {
    self.sequence = sequence
    self.kind = kind
    self.subjectID = subjectID
    self.field = field
    self.actor = actor
    self.role = role
    self.reason = reason
    self.requestID = requestID
    self.detail = detail
    self.occurredAt = occurredAt
    self.previousHash = previousHash
    self.hash = hash
  }

  /// Seals a draft as the entry after `head`.
  public init(draft: AccessDraft, after head: ChainHead, at now: Date, caller: CallerIdentity) {
    self.init(
      sequence: head.sequence + 1, kind: draft.kind, subjectID: draft.subjectID, field: draft.field, actor: caller.actor,
      role: caller.role, reason: draft.reason, requestID: caller.requestID, detail: draft.detail,
      occurredAt: now.microsecondPrecision, previousHash: head.hash, hash: "")
    hash = computedHash
  }

  /// The hash this entry's content and previous hash give.
  public var computedHash: String {
    var encoder = CanonicalEncoder()
    encoder.append(sequence)
    encoder.append(kind.rawValue)
    encoder.append(subjectID)
    encoder.append(field)
    encoder.append(actor)
    encoder.append(role)
    encoder.append(reason)
    encoder.append(requestID)
    encoder.append(detail)
    encoder.append(occurredAt)
    return HashChain.link(previous: previousHash, content: encoder)
  }
}

/// An access-log row that cannot be read back (a column holds a value no code wrote).
public struct AccessLogCorruption: Error, Equatable {
  public var sequence: UInt64
  public var column: String

  public init(sequence: UInt64, column: String) {
    self.sequence = sequence
    self.column = column
  }
}

/// Which access-log entries to read. Filters combine with AND.
public struct AccessLogQuery: Sendable, Equatable {
  public var subjectID: String?
  public var actor: String?
  public var field: String?
  public var kinds: [AccessKind]
  public var start: Date?
  public var end: Date?
  /// Only entries with a greater sequence.
  public var after: UInt64
  /// Only entries with a smaller sequence; nil for no bound.
  public var before: UInt64?
  public var limit: Int

  public init(
    subjectID: String? = nil, actor: String? = nil, field: String? = nil, kinds: [AccessKind] = [], start: Date? = nil,
    end: Date? = nil, after: UInt64 = 0, limit: Int
  ) {
    self.subjectID = subjectID
    self.actor = actor
    self.field = field
    self.kinds = kinds
    self.start = start
    self.end = end
    self.after = after
    self.limit = limit
  }
}
