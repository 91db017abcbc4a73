import Foundation
import PrivacyKit
import PrivacyProtocol
import SwiftProtobuf

/// Everything the suite holds about one subject, for an access or portability bundle: every vault
/// field in clear (ExportRecord, logged by the vault as an export), the consent state and the
/// subject's whole ledger, subscriptions, the opt-in status, the subject's requests, the purposes
/// with their lawful basis and retention, the recipients, and a statement of the person's rights.
struct ExportBundle {
  var request: Privacy_Rights_V1_DataSubjectRequest
  var generatedAt: Date
  var record: Privacy_Vault_V1_Record
  var fieldDefinitions: [String: Privacy_Vault_V1_FieldDefinition]
  var consentState: Privacy_Consent_V1_SubjectState?
  var ledger: [Privacy_Consent_V1_ConsentEvent]
  var subscriptions: [Privacy_Consent_V1_Subscription]
  var requests: [Privacy_Rights_V1_DataSubjectRequest]
  var purposes: [Privacy_Consent_V1_Purpose]
  var recipients: [Privacy_Rights_V1_Recipient]

  static func collect(for request: Privacy_Rights_V1_DataSubjectRequest, context: WorkflowContext) async throws -> ExportBundle {
    let subjectID = request.subjectID
    let article = request.right == .portability ? "art 20" : "art 15"
    // No vault record is an answer too (art 15: whether data is processed): the bundle then
    // holds no fields, and still the consents, requests and purposes concerning the person.
    let record =
      try await context.sendIfFound(VaultMethod.ExportRecord.self, .with {
        $0.subjectID = subjectID
        $0.reason = "\(article) request \(request.requestID)"
      })?.record ?? .with { $0.subjectID = subjectID }
    let purposes = try await context.purposes()
    let state = try await context.consentState(subjectID: subjectID)
    let concerned = RecipientNotices.purposesConcerning(state: state, purposes: purposes)
    return ExportBundle(
      request: request,
      // The run's start, not the clock: a resumed run builds the same bundle.
      generatedAt: request.hasStartedAt ? request.startedAt.date : Date(),
      record: record,
      fieldDefinitions: try await context.vaultFields(),
      consentState: state,
      ledger: state == nil ? [] : try await context.consentEvents(subjectID: subjectID),
      subscriptions: try await context.send(ConsentMethod.ListSubscriptions.self, .with { $0.subjectID = subjectID }).subscriptions,
      requests: try await context.requests(.with { $0.subjectID = subjectID }),
      purposes: purposes.values.sorted { $0.purposeID < $1.purposeID },
      recipients: try await context.recipients().filter { !Set($0.purposeIds).isDisjoint(with: concerned) })
  }

  /// The files of the bundle: `data.json` with everything, one CSV per table, and the rights
  /// statement.
  func files() -> [ZipArchive.File] {
    let fields = record.fields.map { field -> [String: Any] in
      var row = ProtoJSON.object(field)
      row["description"] = fieldDefinitions[field.name]?.description_p ?? ""
      return row
    }
    let purposeRows = purposes.map(Self.purposeSummary).map(ProtoJSON.object)
    let requestRows = requests.map(Self.requestSummary).map(ProtoJSON.object)
    let recipientRows = recipients.map(Self.recipientSummary).map(ProtoJSON.object)
    var consent: [String: Any] = ["ledger": ledger.map(ProtoJSON.object)]
    if let consentState { consent["state"] = ProtoJSON.object(consentState) }
    let document: [String: Any] = [
      "subject_id": request.subjectID,
      "request_id": request.requestID,
      "right": request.right == .portability ? "PORTABILITY" : "ACCESS",
      "generated_at": ISO8601DateFormatter().string(from: generatedAt),
      "personal_data": [
        "fields": fields,
        "restricted": record.restricted, "erased": record.erased, "human_review": record.humanReview,
        "created_at": ProtoJSON.object(record)["created_at"] ?? "",
      ],
      "consent": consent,
      "email_opt_in_status": consentState.map { ProtoJSON.object($0)["opt_in_status"] ?? "OPT_IN_STATUS_NONE" } ?? "OPT_IN_STATUS_NONE",
      "subscriptions": subscriptions.map(ProtoJSON.object),
      "requests": requestRows,
      "purposes": purposeRows,
      "recipients": recipientRows,
      "rights_statement": Self.rightsStatement,
    ]
    let json = (try? JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys])) ?? Data()
    return [
      .init(name: "data.json", data: json),
      .init(name: "personal_data.csv", data: CSV.table(
        ["name", "classification", "value", "description", "source.channel", "source.form_name", "source.ip_address",
         "source.captured_at", "updated_at", "locked"], fields)),
      .init(name: "consent_state.csv", data: CSV.table(
        ["purpose_id", "decision", "legal_basis", "allowed", "reason", "decided_at", "notice_version"],
        (consentState?.purposes ?? []).map(ProtoJSON.object))),
      .init(name: "consent_ledger.csv", data: CSV.table(
        ["sequence", "recorded_at", "kind", "purpose_id", "decision", "legal_basis", "opt_in_status", "list_id", "restricted",
         "evidence.channel", "evidence.form_name", "evidence.ip_address", "evidence.user_agent", "evidence.captured_at", "hash"],
        ledger.map(ProtoJSON.object))),
      .init(name: "subscriptions.csv", data: CSV.table(["list_id", "subscribed", "explicit"], subscriptions.map(ProtoJSON.object))),
      .init(name: "requests.csv", data: CSV.table(["request_id", "right", "status", "received_at", "due_at", "closed_at"], requestRows)),
      .init(name: "purposes.csv", data: CSV.table(
        ["purpose_id", "title", "description", "legal_basis", "category", "retention_days", "notice_version"], purposeRows)),
      .init(name: "recipients.csv", data: CSV.table(["recipient_id", "name", "contact", "purpose_ids"], recipientRows)),
      .init(name: "rights_statement.txt", data: Data(Self.rightsStatement.utf8)),
    ]
  }

  /// A purpose as the person should see it (no notice history).
  private static func purposeSummary(_ purpose: Privacy_Consent_V1_Purpose) -> Privacy_Consent_V1_Purpose {
    .with {
      $0.purposeID = purpose.purposeID
      $0.title = purpose.title
      $0.description_p = purpose.description_p
      $0.legalBasis = purpose.legalBasis
      $0.category = purpose.category
      $0.retentionDays = purpose.retentionDays
      $0.noticeVersion = purpose.noticeVersion
      $0.noticeText = purpose.noticeText
      $0.vaultFields = purpose.vaultFields
    }
  }

  /// A request without its internal step log and verification details.
  private static func requestSummary(_ request: Privacy_Rights_V1_DataSubjectRequest) -> Privacy_Rights_V1_DataSubjectRequest {
    .with {
      $0.requestID = request.requestID
      $0.right = request.right
      $0.status = request.status
      $0.channel = request.channel
      if request.hasReceivedAt { $0.receivedAt = request.receivedAt }
      if request.hasDueAt { $0.dueAt = request.dueAt }
      if request.hasClosedAt { $0.closedAt = request.closedAt }
      // Art 19, last sentence: which recipients were told of a rectification, erasure or restriction.
      $0.recipientsNotified = request.recipientsNotified
    }
  }

  private static func recipientSummary(_ recipient: Privacy_Rights_V1_Recipient) -> Privacy_Rights_V1_Recipient {
    .with {
      $0.recipientID = recipient.recipientID
      $0.name = recipient.name
      $0.contact = recipient.contact
      $0.purposeIds = recipient.purposeIds
    }
  }

  static let rightsStatement = """
    Your rights under the GDPR (arts 15-22)

    You may at any time, free of charge:
    - get access to the personal data we hold about you and a copy of it (art 15);
    - have inaccurate data corrected and incomplete data completed (art 16);
    - have your data erased when we no longer need it, you withdraw consent, or you object (art 17);
    - have the processing of your data restricted (art 18);
    - be told which recipients we informed of a correction, erasure or restriction (art 19);
    - receive your data in a structured, machine-readable format and have it sent to another
      controller (art 20; this bundle's data.json and CSV files);
    - object to processing based on legitimate interests, and to direct marketing at any time (art 21);
    - not be subject to a decision based solely on automated processing (art 22);
    - withdraw any consent at any time, without affecting what was done before (art 7(3));
    - lodge a complaint with a supervisory authority (art 77).

    We answer within one month of receiving a request; for complex or numerous requests this may be
    extended by two further months, and we tell you why.
    """
}

/// RFC 4180 CSV from JSON objects: one column per (dotted) key path, absent values empty.
enum CSV {
  static func table(_ columns: [String], _ rows: [[String: Any]]) -> Data {
    var text = columns.map(escape).joined(separator: ",") + "\r\n"
    for row in rows {
      text += columns.map { escape(cell(row, path: $0)) }.joined(separator: ",") + "\r\n"
    }
    return Data(text.utf8)
  }

  private static func cell(_ row: [String: Any], path: String) -> String {
    var value: Any? = row
    for key in path.split(separator: ".") { value = (value as? [String: Any])?[String(key)] }
    switch value {
    case nil: return ""
    case let text as String: return text
    case let list as [Any]: return list.map { "\($0)" }.joined(separator: ";")
    case let value?:
      // Numbers and booleans as JSON writes them ("30", "true").
      guard let data = try? JSONSerialization.data(withJSONObject: [value]) else { return "" }
      return String(String(decoding: data, as: UTF8.self).dropFirst().dropLast())
    }
  }

  private static func escape(_ text: String) -> String {
    guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
    return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
  }
}
