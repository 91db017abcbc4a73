import Foundation
import PrivacyKit

/// Reads a stored audit row back into an entry, the same way for every store: each column
/// through a reader that gives nil when the column holds no value of that type, so a tampered
/// row is named (`AuditCorruption`), never a crash.
enum StoredAuditRow {
  static func entry(integer: (String) -> Int64?, text: (String) -> String?) -> Result<AuditEntry, AuditCorruption> {
    guard let sequence = integer("sequence"), sequence > 0 else { return .failure(AuditCorruption(sequence: 0, column: "sequence")) }
    let at = UInt64(sequence)
    guard let time = integer("time") else { return .failure(AuditCorruption(sequence: at, column: "time")) }
    guard let code = integer("status_code"), let statusCode = Int(exactly: code) else {
      return .failure(AuditCorruption(sequence: at, column: "status_code"))
    }
    guard let touched = integer("subjects_touched"), let subjectsTouched = Int(exactly: touched), subjectsTouched >= 0 else {
      return .failure(AuditCorruption(sequence: at, column: "subjects_touched"))
    }
    var texts: [String: String] = [:]
    for column in [
      "request_id", "actor", "role", "method", "subject_id", "fields_revealed", "reason", "status_message", "prev_hash", "hash", "phase",
    ] {
      guard let value = text(column) else { return .failure(AuditCorruption(sequence: at, column: column)) }
      texts[column] = value
    }
    let revealed = texts["fields_revealed"]!
    guard let phase = AuditPhase(rawValue: texts["phase"]!) else { return .failure(AuditCorruption(sequence: at, column: "phase")) }
    let draft = AuditDraft(
      requestID: texts["request_id"]!, actor: texts["actor"]!, role: texts["role"]!, method: texts["method"]!,
      subjectID: texts["subject_id"]!, subjectsTouched: subjectsTouched, fieldsRevealed: revealed.isEmpty ? [] : revealed.split(separator: ",").map(String.init),
      reason: texts["reason"]!, statusCode: statusCode, statusMessage: texts["status_message"]!, phase: phase)
    return .success(AuditEntry(
      sequence: at, time: Microseconds(value: time).date, draft: draft, previousHash: texts["prev_hash"]!, hash: texts["hash"]!))
  }
}
