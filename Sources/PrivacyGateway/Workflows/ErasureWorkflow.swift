import Foundation
import GRPCCore
import PrivacyKit
import PrivacyProtocol

/// ERASURE (art 17): the subject's identifiers go to the blocklist (read and added in one step,
/// so no identifier is ever written to the step log), then the vault erases the personal data
/// (crypto-shredding), the consent service erases the subject (the ledger keeps verifying), the
/// recipients are listed for notification, and the request is completed with an evidence record
/// that holds no personal data.
struct ErasureWorkflow {
  let context: WorkflowContext
  let request: Privacy_Rights_V1_DataSubjectRequest

  static let blocklistStep = "blocklist_identifiers"
  static let vaultStep = "vault_erase"
  static let consentStep = "consent_erase"

  private var subjectID: String { request.subjectID }

  /// Kept on the vault record, in the consent ledger and on blocklist entries: no personal data.
  private var reason: String {
    request.origin == .retention
      ? "retention erasure, request \(request.requestID)" : "art 17 erasure, request \(request.requestID)"
  }

  func run(_ log: inout StepLog) async throws -> WorkflowOutcome {
    let blocklisted = StepDetail.object(try await log.run(Self.blocklistStep) { try await blocklistIdentifiers() })
    let vault = StepDetail.message(
      try await log.run(Self.vaultStep) { try await eraseVault() }, as: Privacy_Vault_V1_ErasePersonalDataResponse.self)
    try await log.run(Self.consentStep) { try await eraseConsent() }
    var outcome = WorkflowOutcome()
    outcome.report.recipientsToNotify = try await RecipientStep.run(
      &log, context: context, subjectID: subjectID,
      notice: "personal data of subject \(subjectID) erased (art 17, request \(request.requestID)): erase your copy")
    outcome.recipientsTold = try await RecipientDeliveryStep.run(&log, context: context, notices: outcome.report.recipientsToNotify)
    outcome.report.erasureEvidence = .with {
      $0.stepsRun = log.steps.filter { $0.status == .done }.map(\.name)
      // No vault record (nothing to erase there): the completion time stands for the erasure.
      $0.erasedAt = vault.flatMap { $0.hasErasedAt ? $0.erasedAt : nil } ?? Date().protoTimestamp
      $0.fieldsErased = vault?.erasedFields ?? []
      $0.identifiersBlocklisted = UInt32(blocklisted["identifiers_blocklisted"] as? Int ?? 0)
      $0.dataKeyDestroyed = vault?.keyDestroyed ?? false
      if let check = vault?.kAnonymity { $0.kAnonymity = check }
    }
    return outcome
  }

  /// Reads the identifier fields (tagged email, phone, national_id) and adds them to the
  /// blocklist; the detail records only how many and of which kinds.
  private func blocklistIdentifiers() async throws -> String {
    guard let identifiers = try await ReentryCheck(context: context)
      .identifiers(ofSubject: subjectID, reason: "\(reason): identifier for the erasure blocklist")
    else {
      return StepDetail.json(["record_found": false, "identifiers_blocklisted": 0])
    }
    if !identifiers.isEmpty {
      _ = try await context.send(BlocklistMethod.Add.self, .with {
        $0.identifiers = identifiers
        $0.reason = reason
        $0.requestID = request.requestID
      })
    }
    return StepDetail.json([
      "record_found": true, "identifiers_blocklisted": identifiers.count,
      "kinds": Set(identifiers.map { IdentifierFields.name($0.kind) }).sorted(),
    ])
  }

  /// The vault's answer is usable as evidence as it is: names, counts and the k-anonymity check.
  private func eraseVault() async throws -> String {
    guard let response = try await context.sendIfFound(VaultMethod.ErasePersonalData.self, .with {
      $0.subjectID = subjectID
      $0.reason = reason
    }) else {
      return StepDetail.json(["record_found": false])
    }
    return StepDetail.encode(response)
  }

  private func eraseConsent() async throws -> String {
    let response = try await context.send(ConsentMethod.EraseSubject.self, .with {
      $0.subjectID = subjectID
      $0.reason = reason
    })
    return StepDetail.json([
      "already_erased": response.alreadyErased, "purposes_withdrawn": Int(response.purposesWithdrawn),
      "events_scrubbed": Int(response.eventsScrubbed), "outbox_messages_scrubbed": Int(response.outboxMessagesScrubbed),
    ])
  }
}

/// Which vault fields hold identifiers checked against the blocklist: those tagged `email`,
/// `phone` or `national_id`.
enum IdentifierFields {
  static func kind(tags: [String]) -> Privacy_Blocklist_V1_IdentifierKind? {
    if tags.contains("email") { return .email }
    if tags.contains("phone") { return .phone }
    if tags.contains("national_id") { return .nationalID }
    return nil
  }

  static func name(_ kind: Privacy_Blocklist_V1_IdentifierKind) -> String {
    switch kind {
    case .email: "EMAIL"
    case .phone: "PHONE"
    case .nationalID: "NATIONAL_ID"
    default: "CUSTOM"
    }
  }
}
