import PrivacyProtocol

// Text forms of messages that workflows and several command groups return: steps, recipients to
// notify, hash-chain verifications.

/// Recipients to notify under art 19.
enum RecipientTable {
  static func table(_ notices: [Privacy_Gateway_V1_RecipientNotice]) -> Table {
    Table(
      header: ["RECIPIENT", "NAME", "FIELDS", "NOTICE"],
      rows: notices.map { [$0.recipient.recipientID, $0.recipient.name, Format.list($0.fields), $0.notice] }
    )
  }
}

/// Workflow and request steps.
enum StepTable {
  static func table(_ steps: [Privacy_Rights_V1_Step]) -> Table {
    Table(
      header: ["STEP", "STATUS", "ATTEMPTS", "FINISHED", "DETAIL"],
      rows: steps.map { step in
        [
          step.name, Format.name(step.status), "\(step.attempts)", Format.time(step.finishedAt, isSet: step.hasFinishedAt),
          [step.detail, step.lastError.isEmpty ? "" : "error: \(step.lastError)"].filter { !$0.isEmpty }.joined(separator: "; "),
        ]
      }
    )
  }
}

/// A hash chain's verification.
enum ChainView {
  static func details(_ verification: Privacy_Common_V1_ChainVerification) -> String {
    Details([
      ("valid", Format.yesNo(verification.valid)),
      ("entries checked", "\(verification.entriesChecked)"),
      ("first broken", verification.firstBrokenSequence == 0 ? "" : "#\(verification.firstBrokenSequence)"),
      ("problem", verification.problem),
      ("head hash", verification.headHash),
    ]).rendered
  }
}
