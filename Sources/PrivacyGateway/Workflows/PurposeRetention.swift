import Foundation
import GRPCCore
import PrivacyProtocol

/// Purpose retention, the second half of the retention sweep: a DATA_STORAGE purpose's
/// `retention_days` counts from the subject's last engagement (the consent ending erases at once,
/// through the consent reactor). Once it has run out, the vault fields the purpose covers are
/// erased (not locked: the person may come back and give them again), unless another storage
/// purpose still keeps the field: one without a limit, or whose limit has not run out.
///
/// Only subjects whose retention ran out after `since` are looked at (the scheduled sweep passes
/// its previous run, so each daily run reads the day's newcomers, not every subject); without it,
/// every subject past a limit. Each erasure is audited write-ahead, naming the subject.
struct PurposeRetention {
  let context: WorkflowContext

  func run(now: Date, since: Date?, into response: inout Privacy_Gateway_V1_RunRetentionSweepResponse, checkDeadline: () throws -> Void) async throws {
    let storage = try await context.purposes().values.filter(\.isStorage).sorted { $0.purposeID < $1.purposeID }
    let limited = storage.filter { $0.retentionDays > 0 }
    for days in Set(limited.map(\.retentionDays)).sorted() {
      let span = TimeInterval(days) * 86_400
      var request = Privacy_Rights_V1_ListEngagementsRequest.with {
        $0.engagedUntil = now.addingTimeInterval(-span).protoTimestamp
        if let since { $0.engagedAfter = since.addingTimeInterval(-span).protoTimestamp }
        $0.pageSize = 1000
      }
      repeat {
        let page = try await context.send(RightsMethod.ListEngagements.self, request)
        for engagement in page.engagements {
          let due = Self.fieldsDue(storage: storage, engagedAt: engagement.lastEngagementAt.date, now: now)
          guard !due.fields.isEmpty else { continue }
          do {
            if try await erase(due, of: engagement.subjectID) { response.purposeRetentionSubjects += 1 }
          } catch {
            let rpc = StepLog.rpcError(error)
            response.failures.append(.with {
              $0.subjectID = engagement.subjectID
              $0.step = "purpose_retention"
              $0.error = "\(rpc.code.canonicalName): \(rpc.message)"
            })
          }
          try checkDeadline()
        }
        request.pageToken = page.nextPageToken
      } while !request.pageToken.isEmpty
    }
  }

  /// The fields to erase for a subject last engaged at `engagedAt`, with the purposes whose limit
  /// ran out: fields of those purposes that no other storage purpose keeps.
  static func fieldsDue(
    storage: [Privacy_Consent_V1_Purpose], engagedAt: Date, now: Date
  ) -> (fields: [String], purposes: [String]) {
    let due = storage.filter { $0.retentionDays > 0 && engagedAt.addingTimeInterval(TimeInterval($0.retentionDays) * 86_400) <= now }
    let dueIDs = Set(due.map(\.purposeID))
    let kept = Set(storage.filter { !dueIDs.contains($0.purposeID) }.flatMap(\.vaultFields))
    return (Set(due.flatMap(\.vaultFields)).subtracting(kept).sorted(), due.map(\.purposeID))
  }

  /// Erases the fields that still hold a value; true when any did. A subject without a record, or
  /// whose record waits for its double opt-in (it has its own expiry), is left alone.
  private func erase(_ due: (fields: [String], purposes: [String]), of subjectID: String) async throws -> Bool {
    guard let record = try await context.sendIfFound(VaultMethod.GetRecord.self, .with { $0.subjectID = subjectID })?.record,
      !record.pending, record.fields.contains(where: { due.fields.contains($0.name) && !$0.value.isEmpty })
    else { return false }
    let reason = "retention of storage purpose \(due.purposes.joined(separator: ", ")) ran out after the last engagement"
    let erased = try await context.auditedStep(VaultMethod.EraseFields.self, .with {
      $0.subjectID = subjectID
      $0.fields = due.fields
      $0.reason = reason
    }, subjectID: subjectID, reason: reason)
    return erased?.erasedFields.isEmpty == false
  }
}
