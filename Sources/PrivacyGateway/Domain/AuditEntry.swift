public import Foundation
public import PrivacyKit

/// Which part of a call an entry records.
public enum AuditPhase: String, Sendable, Equatable {
  /// The whole call, written before the answer leaves (reads, refused calls).
  case call = ""
  /// A state-changing call about to act, written before its first backend call.
  case intent
  /// What that call did, written after the backends answered.
  case outcome
}

/// What a call contributes to its audit entry; the log gives it a sequence, a time and a hash.
public struct AuditDraft: Sendable, Equatable {
  /// The gateway's id for the call (sent to backends as `x-request-id`).
  public var requestID: String
  /// Empty when authentication failed.
  public var actor: String
  /// Empty when authentication failed.
  public var role: String
  /// Full method name (`privacy.vault.v1.VaultService/GetRecord`).
  public var method: String
  /// The subject the request named; empty when none.
  public var subjectID: String
  /// How many distinct subjects a batch call (CheckConsentBatch, GetRecords) named; 0 for every
  /// other call, whose one subject is `subjectID`.
  public var subjectsTouched: Int
  /// Vault fields returned in clear by the call (RevealField, ExportRecord), names only, sorted.
  public var fieldsRevealed: [String]
  /// The reason the request gave; empty when none.
  public var reason: String
  /// gRPC status code of the outcome (0 OK).
  public var statusCode: Int
  /// The status message returned; empty on OK.
  public var statusMessage: String
  public var phase: AuditPhase

  public init(
    requestID: String, actor: String, role: String, method: String, subjectID: String = "", subjectsTouched: Int = 0,
    fieldsRevealed: [String] = [], reason: String = "", statusCode: Int, statusMessage: String = "", phase: AuditPhase = .call
  ) {
    self.phase = phase
    self.requestID = requestID
    self.actor = actor
    self.role = role
    self.method = method
    self.subjectID = subjectID
    self.subjectsTouched = subjectsTouched
    self.fieldsRevealed = fieldsRevealed
    self.reason = reason
    self.statusCode = statusCode
    self.statusMessage = statusMessage
  }

  /// The draft as an entry keeps it. Entries record refused calls too, so their texts may be
  /// anything a caller sent: control characters are replaced (SQLite cuts a stored text at NUL,
  /// which would break the chain), and a subject id is kept only when it is a valid one (an
  /// address sent as an id must not land in the log).
  var storable: AuditDraft {
    var draft = self
    draft.requestID = requestID.withoutControlCharacters
    draft.actor = actor.withoutControlCharacters
    draft.role = role.withoutControlCharacters
    draft.method = method.withoutControlCharacters
    draft.subjectID = (try? Validate.subjectID(subjectID)) ?? ""
    draft.fieldsRevealed = fieldsRevealed.map(\.withoutControlCharacters)
    draft.reason = reason.withoutControlCharacters
    draft.statusMessage = statusMessage.withoutControlCharacters
    return draft
  }
}

/// One entry of the keyed hash chain of the audit log: one call through the gateway, or one
/// phase of a state-changing call.
public struct AuditEntry: Sendable, Equatable {
  public var sequence: UInt64
  public var time: Date
  public var draft: AuditDraft
  /// Hash of the previous entry; `HashChain.genesis` for the first.
  public var previousHash: String
  public var hash: String

  public init(sequence: UInt64, time: Date, draft: AuditDraft, previousHash: String, hash: String) {
    self.sequence = sequence
    self.time = time
    self.draft = draft
    self.previousHash = previousHash
    self.hash = hash
  }

  /// Seals a draft as the entry after `head`.
  public init(draft: AuditDraft, after head: ChainHead, at time: Date, key: AuditKey) {
    self.init(sequence: head.sequence + 1, time: time.microsecondPrecision, draft: draft.storable, previousHash: head.hash, hash: "")
    hash = computedHash(key: key)
  }

  /// The hash this entry's content and previous hash give under the audit key: HMAC-SHA256 over
  /// the previous hash and the canonical encoding of every field. `subjectsTouched` is encoded
  /// only when not 0, so entries written before it existed keep their hashes.
  public func computedHash(key: AuditKey) -> String {
    var encoder = CanonicalEncoder()
    encoder.append(sequence)
    encoder.append(time)
    encoder.append(draft.requestID)
    encoder.append(draft.actor)
    encoder.append(draft.role)
    encoder.append(draft.method)
    encoder.append(draft.subjectID)
    encoder.append(draft.fieldsRevealed.count)
    for field in draft.fieldsRevealed { encoder.append(field) }
    encoder.append(draft.reason)
    encoder.append(draft.statusCode)
    encoder.append(draft.statusMessage)
    encoder.append(draft.phase.rawValue)
    if draft.subjectsTouched != 0 { encoder.append(draft.subjectsTouched) }
    return key.link(previous: previousHash, content: encoder)
  }

  /// The entry as the chain verifier checks it, under the audit key.
  func verifiable(key: AuditKey) -> KeyedAuditEntry { KeyedAuditEntry(entry: self, key: key) }
}

/// An audit entry with the key its hash is checked under.
struct KeyedAuditEntry: ChainedEntry {
  let entry: AuditEntry
  let key: AuditKey
  var sequence: UInt64 { entry.sequence }
  var previousHash: String { entry.previousHash }
  var hash: String { entry.hash }
  var computedHash: String { entry.computedHash(key: key) }
}

/// Which audit entries to read, newest first. Filters combine with AND.
public struct AuditQuery: Sendable, Equatable {
  public var actor: String?
  /// A full method name or a service wildcard.
  public var method: MethodPattern?
  public var subjectID: String?
  public var requestID: String?
  /// At or after.
  public var start: Date?
  /// Before.
  public var end: Date?
  public var statusCode: Int?
  /// Only entries with a smaller sequence (the page cursor); nil for the newest.
  public var before: UInt64?
  public var limit: Int

  public init(
    actor: String? = nil, method: MethodPattern? = nil, subjectID: String? = nil, requestID: String? = nil,
    start: Date? = nil, end: Date? = nil, statusCode: Int? = nil, before: UInt64? = nil, limit: Int = 50
  ) {
    self.actor = actor
    self.method = method
    self.subjectID = subjectID
    self.requestID = requestID
    self.start = start
    self.end = end
    self.statusCode = statusCode
    self.before = before
    self.limit = limit
  }

  /// The filters as a string, so a page token is bound to the filters it was issued for.
  public var scopeKey: String {
    [
      actor ?? "", method?.description ?? "", subjectID ?? "", requestID ?? "",
      start.map { String(Microseconds($0).value) } ?? "", end.map { String(Microseconds($0).value) } ?? "",
      statusCode.map(String.init) ?? "",
    ].map { $0.replacingOccurrences(of: "|", with: "||") }.joined(separator: "|")
  }
}
