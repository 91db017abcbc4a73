import Foundation
import GRPCCore
import PrivacyKit
import PrivacyProtocol

/// RESTRICTION (art 18), also run by StopProcessing: the vault record refuses every write and the
/// consent service blocks every email but replies.
struct RestrictionWorkflow {
  let context: WorkflowContext
  let request: Privacy_Rights_V1_DataSubjectRequest

  static let vaultStep = "vault_restrict"
  static let consentStep = "consent_restrict"

  /// The reason kept in both backends: the controller's note when StopProcessing opened the
  /// request, else the request itself (a requester's note may hold personal data).
  private var reason: String {
    request.origin == .controller && !request.details.note.isEmpty
      ? String(request.details.note.prefix(500)) : "art 18 restriction, request \(request.requestID)"
  }

  func run(_ log: inout StepLog) async throws -> WorkflowOutcome {
    let subjectID = request.subjectID
    let reason = self.reason
    try await log.run(Self.vaultStep) {
      guard let response = try await context.sendIfFound(VaultMethod.SetRestriction.self, .with {
        $0.subjectID = subjectID
        $0.restricted = true
        $0.reason = reason
      }) else { return StepDetail.json(["record_found": false]) }
      return StepDetail.json(["record_found": true, "changed": response.changed])
    }
    try await log.run(Self.consentStep) {
      let response = try await context.send(ConsentMethod.SetProcessingRestriction.self, .with {
        $0.subjectID = subjectID
        $0.restricted = true
        $0.reason = reason
      })
      return StepDetail.json(["changed": response.hasEvent])
    }
    var outcome = WorkflowOutcome()
    outcome.report.recipientsToNotify = try await RecipientStep.run(
      &log, context: context, subjectID: subjectID,
      notice: "processing of subject \(subjectID) restricted (art 18, request \(request.requestID)): store only, do not process")
    outcome.recipientsTold = try await RecipientDeliveryStep.run(&log, context: context, notices: outcome.report.recipientsToNotify)
    return outcome
  }
}

/// RECTIFICATION (art 16): the changes in the request's details are written to the vault (an
/// empty value clears the field); recipients are listed for notification.
struct RectificationWorkflow {
  let context: WorkflowContext
  let request: Privacy_Rights_V1_DataSubjectRequest

  static let vaultStep = "vault_rectify"

  func run(_ log: inout StepLog) async throws -> WorkflowOutcome {
    let subjectID = request.subjectID
    let changes = request.details.rectification.changes
    let channel = request.channel == .unspecified ? Privacy_Common_V1_Channel.manual : request.channel
    let detail = try await log.run(Self.vaultStep) {
      let known = try await context.vaultFields()
      if let unknown = changes.keys.sorted().first(where: { known[$0] == nil }) {
        throw RPCError(code: .invalidArgument, message: "rectification names unknown field \(unknown)")
      }
      guard try await context.sendIfFound(VaultMethod.GetRecord.self, .with { $0.subjectID = subjectID }) != nil else {
        throw RPCError(code: .notFound, message: "subject \(subjectID) has no record to rectify")
      }
      let response = try await context.send(VaultMethod.PutRecord.self, .with {
        $0.subjectID = subjectID
        $0.values = changes
        $0.source = .with {
          $0.channel = channel
          $0.actorKind = .staff
        }
      })
      return StepDetail.json(["fields": changes.keys.sorted(), "changed_fields": response.changedFields, "version": Int(response.version)])
    }
    let fields = StepDetail.object(detail)["fields"] as? [String] ?? changes.keys.sorted()
    var outcome = WorkflowOutcome()
    outcome.report.fieldsRectified = fields
    outcome.report.recipientsToNotify = try await RecipientStep.run(
      &log, context: context, subjectID: subjectID,
      notice: "fields \(fields.joined(separator: ", ")) of subject \(subjectID) rectified (art 16, request \(request.requestID)): update your copy")
    outcome.recipientsTold = try await RecipientDeliveryStep.run(&log, context: context, notices: outcome.report.recipientsToNotify)
    return outcome
  }
}

/// OBJECTION (art 21) and AUTOMATED_DECISION (art 22): the purposes objected to are withdrawn
/// (legitimate-interest ones included), direct marketing is always honoured (every
/// EMAIL_MARKETING purpose withdrawn and the contact opted out); for art 22 every
/// AUTOMATED_DECISIONS purpose is withdrawn and the record flagged for human review.
struct ObjectionWorkflow {
  let context: WorkflowContext
  let request: Privacy_Rights_V1_DataSubjectRequest

  static let withdrawStep = "purposes_withdrawn"
  static let optOutStep = "email_opt_out"
  static let humanReviewStep = "human_review_flagged"

  private var isAutomatedDecision: Bool { request.right == .automatedDecision }

  func run(_ log: inout StepLog) async throws -> WorkflowOutcome {
    let subjectID = request.subjectID
    let requestID = request.requestID
    let objection = request.details.objection
    let automated = isAutomatedDecision
    let withdrawn = try await log.run(Self.withdrawStep) {
      let purposes = try await context.purposes()
      var targets = Set<String>()
      if automated {
        targets = Set(purposes.values.filter { $0.category == .automatedDecisions }.map(\.purposeID))
      } else {
        for id in objection.purposeIds {
          guard purposes[id] != nil else { throw RPCError(code: .invalidArgument, message: "objection names unknown purpose \(id)") }
          targets.insert(id)
        }
        if objection.directMarketing {
          targets.formUnion(purposes.values.filter { $0.category == .emailMarketing }.map(\.purposeID))
        }
      }
      let state = try await context.consentState(subjectID: subjectID)
      for id in targets.sorted() where state?.purposes.first(where: { $0.purposeID == id })?.decision != .withdrawn {
        _ = try await context.send(ConsentMethod.RecordConsent.self, .with {
          $0.subjectID = subjectID
          $0.purposeID = id
          $0.decision = .withdrawn
          $0.evidence = .with {
            $0.channel = request.channel == .unspecified ? .manual : request.channel
            $0.actorKind = .subject
            $0.formName = automated ? "art 22 request \(requestID)" : "art 21 request \(requestID)"
          }
        })
      }
      return StepDetail.json(["purposes": targets.sorted()])
    }
    if !automated && objection.directMarketing {
      try await log.run(Self.optOutStep) {
        let response = try await context.send(ConsentMethod.SetEmailOptInStatus.self, .with {
          $0.subjectID = subjectID
          $0.status = .optOutContact
          $0.setBy = .contact
        })
        return StepDetail.json(["changed": response.hasEvent])
      }
    }
    var flagged = false
    if automated {
      let detail = try await log.run(Self.humanReviewStep) {
        guard let response = try await context.sendIfFound(VaultMethod.SetHumanReview.self, .with {
          $0.subjectID = subjectID
          $0.humanReview = true
          $0.reason = "art 22 request \(requestID)"
        }) else { return StepDetail.json(["record_found": false, "human_review": false]) }
        return StepDetail.json(["record_found": true, "human_review": response.humanReview])
      }
      flagged = StepDetail.object(detail)["human_review"] as? Bool ?? false
    }
    let purposes = StepDetail.object(withdrawn)["purposes"] as? [String] ?? []
    var outcome = WorkflowOutcome()
    outcome.report.purposesWithdrawn = purposes
    outcome.report.humanReviewFlagged = flagged
    outcome.report.recipientsToNotify = try await RecipientStep.run(
      &log, context: context, subjectID: subjectID, only: Set(purposes),
      notice: "subject \(subjectID) objected (request \(requestID)): stop processing for purposes \(purposes.joined(separator: ", "))")
    return outcome
  }
}

/// NOTIFICATION (art 19): completes with the list of recipients and what each was told.
struct NotificationWorkflow {
  let context: WorkflowContext
  let request: Privacy_Rights_V1_DataSubjectRequest

  func run(_ log: inout StepLog) async throws -> WorkflowOutcome {
    var outcome = WorkflowOutcome()
    outcome.report.recipientsToNotify = try await RecipientStep.run(
      &log, context: context, subjectID: request.subjectID,
      notice: "the rectifications, erasures and restrictions concerning subject \(request.subjectID) (art 19, request \(request.requestID))")
    return outcome
  }
}

/// The step listing the recipients concerned; its detail keeps the list so a resumed run
/// completes with the same one.
enum RecipientStep {
  static let name = "recipients_listed"

  static func run(
    _ log: inout StepLog, context: WorkflowContext, subjectID: String, only: Set<String>? = nil, notice: String
  ) async throws -> [Privacy_Gateway_V1_RecipientNotice] {
    let detail = try await log.run(name) {
      let purposes = try await context.purposes()
      var concerned = only ?? []
      if only == nil {
        concerned = RecipientNotices.purposesConcerning(state: try await context.consentState(subjectID: subjectID), purposes: purposes)
      }
      let notices = try await RecipientNotices.concerning(concerned, purposes: purposes, notice: notice, context: context)
      return StepDetail.encode(Privacy_Gateway_V1_ExecuteRequestResponse.with { $0.recipientsToNotify = notices })
    }
    return StepDetail.message(detail, as: Privacy_Gateway_V1_ExecuteRequestResponse.self)?.recipientsToNotify ?? []
  }
}
