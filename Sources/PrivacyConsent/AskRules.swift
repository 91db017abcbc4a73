public import Foundation

/// Subjects' attributes and which purposes the preference page asks each subject about
/// (`Purpose.askWhen`). Attributes are not consent decisions: they live beside the ledger.
public struct AskRules: Sendable {
  let store: any ConsentStore
  let ledger: ConsentLedger

  public init(store: any ConsentStore, ledger: ConsentLedger) {
    self.store = store
    self.ledger = ledger
  }

  /// Replaces the subject's attributes; returns the purposes to ask now.
  public func setAttributes(subjectID: String, _ attributes: [String: String]) async throws -> [String] {
    if ledger.isErased(subjectID) { throw ConsentError.subjectErased(subjectID) }
    try await store.setSubjectAttributes(subjectID: subjectID, attributes: attributes, at: ledger.now())
    return ledger.purposesToAsk(attributes)
  }

  /// The purposes whose condition holds for the subject's attributes, ordered by id.
  public func purposesToAsk(subjectID: String) async throws -> [String] {
    ledger.purposesToAsk(try await store.subjectAttributes(subjectID: subjectID))
  }
}
