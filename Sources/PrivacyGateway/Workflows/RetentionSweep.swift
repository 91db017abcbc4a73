import Foundation
import GRPCCore
import PrivacyKit
import PrivacyProtocol

/// RunRetentionSweep: every subject due under the retention policies gets an ERASURE request with
/// origin RETENTION, verified by the controller and executed; then PurposeRetention erases the
/// fields kept only under storage purposes whose `retention_days` ran out. Safe to run twice: the rights
/// service no longer lists a subject once its retention erasure is open or completed, requests
/// are opened with an idempotency key (subject and last engagement), and open retention
/// erasures left by an earlier run are resumed, not duplicated. Subjects are erased
/// `subjectsAtOnce` at a time. One subject's failure is reported and the sweep goes on; a
/// deadline that runs out ends the sweep with DEADLINE_EXCEEDED (run it again to continue).
struct RetentionSweep {
  let context: WorkflowContext

  func run(_ message: Privacy_Gateway_V1_RunRetentionSweepRequest) async throws -> Privacy_Gateway_V1_RunRetentionSweepResponse {
    if message.hasNow, !message.now.isWellFormed { throw InvalidArgument("now is outside the supported timestamp range") }
    if message.hasPurposeRetentionSince, !message.purposeRetentionSince.isWellFormed {
      throw InvalidArgument("purpose_retention_since is outside the supported timestamp range")
    }
    let now = message.hasNow ? message.now : Date().protoTimestamp
    let due = try await context.all(RightsMethod.ListDueForRetention.self, .with { $0.now = now }, \.due)
    let open = try await context.requests(.with {
      $0.right = .erasure
      $0.origin = .retention
      $0.openOnly = true
    })

    var response = Privacy_Gateway_V1_RunRetentionSweepResponse()
    response.evaluatedAt = now
    response.subjectsDue = UInt32(due.count + open.count)
    let (outcomes, finishedAll) = await sweep(open.map(Subject.resume) + due.map(Subject.open))
    for outcome in outcomes {
      if outcome.opened { response.requestsOpened += 1 }
      if outcome.completed { response.requestsCompleted += 1 }
      if let failure = outcome.failure { response.failures.append(failure) }
    }
    guard finishedAll else {
      try Task.checkCancellation()
      throw Self.outOfTime
    }
    try checkDeadline()
    try await PurposeRetention(context: context).run(
      now: now.date, since: message.hasPurposeRetentionSince ? message.purposeRetentionSince.date : nil, into: &response,
      checkDeadline: checkDeadline)
    return response
  }

  /// Subjects erased at once. Each erasure mostly waits for the disk flushes of the backends and
  /// of the audit log, which calls in flight together share (group commit), so a few at once
  /// erase several times as many a second; the bound keeps a sweep over a hundred thousand
  /// subjects from crowding out the services' other callers.
  static let subjectsAtOnce = 8

  /// A subject the sweep erases: one whose retention erasure an earlier run left open, or one
  /// newly due.
  private enum Subject: Sendable {
    case resume(Privacy_Rights_V1_DataSubjectRequest)
    case open(Privacy_Rights_V1_RetentionDue)
  }

  /// What erasing one subject did, for the response.
  private struct Outcome: Sendable {
    var opened = false
    var completed = false
    var failure: Privacy_Gateway_V1_SweepFailure?
  }

  /// Erases `subjects`, `subjectsAtOnce` at a time; outcomes in the order of `subjects`. Once the
  /// call's deadline has passed or the call is cancelled (a scheduled sweep at shutdown), no
  /// further subject is started (those started finish), and `finishedAll` is false.
  private func sweep(_ subjects: [Subject]) async -> (outcomes: [Outcome], finishedAll: Bool) {
    await withTaskGroup(of: (Int, Outcome).self) { group in
      var outcomes = [Outcome](repeating: Outcome(), count: subjects.count)
      var started = 0
      func startNext() {
        let index = started
        group.addTask { (index, await erase(subjects[index])) }
        started += 1
      }
      while started < min(subjects.count, Self.subjectsAtOnce) { startNext() }
      while let (index, outcome) = await group.next() {
        outcomes[index] = outcome
        if started < subjects.count, !pastDeadline, !Task.isCancelled { startNext() }
      }
      return (outcomes, started == subjects.count)
    }
  }

  private func erase(_ subject: Subject) async -> Outcome {
    switch subject {
    case .resume(let request):
      return await finish(request, subjectID: request.subjectID)
    case .open(let entry):
      do {
        let opened = try await context.send(RightsMethod.OpenRequest.self, .with {
          $0.subjectID = entry.subjectID
          $0.right = .erasure
          $0.origin = .retention
          $0.idempotencyKey = "retention:\(entry.subjectID):\(entry.lastEngagementAt.seconds)"
          $0.details = .with { $0.note = "retention policy \(entry.policyName)" }
        })
        var outcome = await finish(opened.request, subjectID: entry.subjectID, policy: entry.policyName)
        outcome.opened = opened.created
        return outcome
      } catch {
        return Outcome(failure: .with {
          $0.subjectID = entry.subjectID
          $0.error = Self.describe(error)
        })
      }
    }
  }

  /// Verifies (the controller needs no identity check) and executes one retention erasure.
  private func finish(_ request: Privacy_Rights_V1_DataSubjectRequest, subjectID: String, policy: String = "") async -> Outcome {
    do {
      if [.received, .verifying].contains(request.status) {
        _ = try await context.send(RightsMethod.VerifyManually.self, .with {
          $0.requestID = request.requestID
          $0.note = policy.isEmpty ? "due under a retention policy" : "due under retention policy \(policy)"
        })
      }
      let executed = try await RequestExecution(context: context).execute(requestID: request.requestID).message
      guard executed.status == .completed else { return Outcome() }
      // One entry per subject erased, naming why, whoever ran the sweep.
      _ = try await context.gateway.audit.record(AuditDraft(
        requestID: context.call.requestID, actor: context.call.principal.actor, role: context.call.principal.role,
        method: context.call.method, subjectID: subjectID,
        reason: "erased under \(policy.isEmpty ? "a retention policy" : "retention policy \(policy)") (request \(request.requestID))",
        statusCode: 0))
      return Outcome(completed: true)
    } catch {
      let info = try? StepLog.rpcError(error).unpackGoogleRPCStatus()
      let step = info?.details.lazy.compactMap(\.errorInfo).first?.metadata["step"] ?? ""
      return Outcome(failure: .with {
        $0.subjectID = subjectID
        $0.requestID = request.requestID
        $0.step = step
        $0.error = Self.describe(error)
      })
    }
  }

  private var pastDeadline: Bool {
    guard let deadline = context.call.deadline else { return false }
    return ContinuousClock.now >= deadline
  }

  private static let outOfTime = RPCError(code: .deadlineExceeded, message: "the retention sweep ran out of time; run it again to continue")

  private func checkDeadline() throws {
    if pastDeadline { throw Self.outOfTime }
  }

  private static func describe(_ error: any Error) -> String {
    let rpc = StepLog.rpcError(error)
    return "\(rpc.code.canonicalName): \(rpc.message)"
  }
}
