public import Foundation
public import PrivacyKit

/// Everything one write changes, committed by the store in a single transaction: ledger events
/// (sealed here, in order, after `head`) and the records that travel with them.
public struct LedgerCommit: Sendable {
  public private(set) var events: [LedgerEvent] = []
  public private(set) var head: ChainHead
  public let now: Date
  public let caller: CallerIdentity

  public var purposes: [Purpose] = []
  public var lists: [MailingList] = []
  public var newConfirmations: [Confirmation] = []
  /// A confirmation whose token was just used.
  public var usedConfirmationID: String?
  /// Double opt-in confirmations that expired unconfirmed, their expiry now in the ledger.
  public var lapsedConfirmationIDs: [String] = []
  /// Pending confirmations of this kind for this subject are replaced by a newer one.
  public var supersede: (subjectID: String, kind: ConfirmationKind)?
  public var outbox: [OutboxMessage] = []
  /// The preference links the outbox messages carry, kept in the same transaction.
  public var preferenceLinks: [PreferenceLink] = []
  /// Subjects whose personal evidence, outbox addresses and pending confirmations are removed.
  public var erasedSubjects: [String] = []
  /// The state of every subject the events touch, after them: kept with the ledger so a start
  /// reads states instead of replaying history. Filled by the ledger just before the store
  /// commits.
  public var subjectStates: [String: SubjectState] = [:]

  public init(head: ChainHead, now: Date, caller: CallerIdentity) {
    self.head = head
    self.now = now.microsecondPrecision
    self.caller = caller
  }

  public var isEmpty: Bool {
    events.isEmpty && purposes.isEmpty && lists.isEmpty && newConfirmations.isEmpty && usedConfirmationID == nil
      && lapsedConfirmationIDs.isEmpty
      && supersede == nil && outbox.isEmpty && preferenceLinks.isEmpty && erasedSubjects.isEmpty
  }

  /// Seals a draft as the next event and returns it.
  @discardableResult
  public mutating func append(_ draft: EventDraft) -> LedgerEvent {
    let event = LedgerEvent(draft: draft, sequence: head.sequence + 1, previousHash: head.hash, recordedAt: now, recordedBy: caller)
    events.append(event)
    head = ChainHead(event)
    return event
  }
}
