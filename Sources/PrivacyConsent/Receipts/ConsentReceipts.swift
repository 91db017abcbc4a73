public import Foundation
public import PrivacyKit

/// Signed consent receipts of ledger events, their verification, and the key that checks them.
public struct ConsentReceipts: Sendable {
  let store: any ConsentStore
  let ledger: ConsentLedger
  /// nil: no `RECEIPT_SIGNING_KEY_FILE`, and every receipt call is refused.
  let signer: ReceiptSigner?
  /// Who the receipts name as controller (`RECEIPT_CONTROLLER`).
  let controller: String

  public init(store: any ConsentStore, ledger: ConsentLedger, signer: ReceiptSigner?, controller: String) {
    self.store = store
    self.ledger = ledger
    self.signer = signer
    self.controller = controller
  }

  private func requireSigner() throws(ConsentError) -> ReceiptSigner {
    guard let signer else { throw .receiptsNotConfigured }
    return signer
  }

  /// The signed receipt of the subject's event at `sequence`.
  public func receipt(subjectID: String, sequence: UInt64) async throws -> String {
    let signer = try requireSigner()
    guard let event = try await store.event(sequence: sequence), event.subjectID == subjectID else {
      throw ConsentError.eventNotFound(subjectID: subjectID, sequence: sequence)
    }
    return try signer.sign(try receipt(of: event).encoded())
  }

  private func receipt(of event: LedgerEvent) -> ConsentReceipt {
    ConsentReceipt(event: event, purpose: event.purposeID.isEmpty ? nil : ledger.knownPurpose(event.purposeID), controller: controller)
  }

  /// Whether `jws` is a receipt this service signed and still tells what its ledger event says;
  /// `problem` says why not.
  public func verify(_ jws: String) async throws -> (valid: Bool, problem: String) {
    let signer = try requireSigner()
    let payload: Data
    switch signer.verify(jws) {
    case .success(let bytes): payload = bytes
    case .failure(let problem): return (false, problem.rawValue)
    }
    guard let claimed = try? JSONDecoder().decode(ConsentReceipt.self, from: payload) else {
      return (false, ReceiptProblem.malformed.rawValue)
    }
    guard let event = try await store.event(sequence: claimed.ledger.sequence), event.subjectID == claimed.subject else {
      return (false, ReceiptProblem.noSuchEvent.rawValue)
    }
    // Compared with the receipt the event gives now, except the purpose's title and the
    // controller's name: renaming them since does not make the receipt false.
    var expected = receipt(of: event)
    expected.purpose?.title = claimed.purpose?.title ?? ""
    expected.controller = claimed.controller
    guard expected == claimed else { return (false, ReceiptProblem.differsFromLedger.rawValue) }
    return (true, "")
  }

  /// The JWKS of the signing key.
  public func keys() throws -> String { try requireSigner().jwks }
}
