import Foundation
import PrivacyKit
import PrivacyProtocol

/// AssessBreach (arts 33, 34): what the logs say was seen in clear within a window, by the
/// actors and of the fields in scope. Two sources: the vault's access log (every REVEAL and
/// EXPORT names its subject and field) and the gateway's audit log (records read or returned
/// through the gateway, GetRecord and CreateContact, whose non-sensitive fields the caller's
/// role sees in CLEAR under the current policy; sensitive values stay masked in those answers).
/// Values shown masked are not counted as seen. A GetRecords entry names how many subjects it
/// read, not which: those are counted apart (`subjects_unattributed`), each as another person.
struct BreachAssessment {
  let context: WorkflowContext

  /// Methods whose answers carry a subject's record, filtered by the caller's field levels.
  static let recordAnswers = ["privacy.vault.v1.VaultService/GetRecord", "privacy.gateway.v1.AdminService/CreateContact"]
  /// The same for many subjects a call, named by count only.
  static let batchRecordAnswers = ["privacy.vault.v1.VaultService/GetRecords"]

  struct Scope {
    var from: Date
    var to: Date
    var actors: [String]
    var keyIDs: Set<String>
    var fields: Set<String>

    init(_ message: Privacy_Gateway_V1_AssessBreachRequest) throws(InvalidArgument) {
      guard message.hasFrom, message.hasTo, message.from.isWellFormed, message.to.isWellFormed else {
        throw InvalidArgument("from and to are required timestamps")
      }
      guard message.to.date > message.from.date else { throw InvalidArgument("to must be after from") }
      guard message.actors.count <= 100, message.keyIds.count <= 100, message.fields.count <= 1000 else {
        throw InvalidArgument("at most 100 actors, 100 key ids and 1,000 fields")
      }
      from = message.from.date
      to = message.to.date
      actors = try message.actors.map { actor throws(InvalidArgument) in try Validate.requiredText(actor, field: "actors", maxLength: 200) }
      keyIDs = Set(try message.keyIds.map { id throws(InvalidArgument) in try Validate.requiredText(id, field: "key_ids", maxLength: 64) })
      fields = Set(try message.fields.map { name throws(InvalidArgument) in try Validate.fieldName(name, field: "fields") })
    }

    func covers(field: String) -> Bool { fields.isEmpty || fields.contains(field) }
  }

  /// One value seen in clear.
  struct Exposure: Hashable {
    var subjectID: String
    var field: String
  }

  func assess(_ message: Privacy_Gateway_V1_AssessBreachRequest) async throws -> Privacy_Gateway_V1_AssessBreachResponse {
    let scope = try Scope(message)
    let keys = try await context.send(VaultMethod.ListFields.self, .with { $0.pageSize = 1 })
    let definitions = try await context.vaultFields()
    var exposures = try await vaultExposures(scope)
    let gateway = try await gatewayExposures(scope, definitions: definitions)
    exposures.formUnion(gateway.attributed)

    let fields = Set(exposures.map(\.field)).union(gateway.unattributed.fields).sorted()
    let categories = fields.map { Privacy_Gateway_V1_DataCategory(field: $0, definition: definitions[$0]) }
    var response = Privacy_Gateway_V1_AssessBreachResponse()
    response.subjectsUnattributed = UInt64(gateway.unattributed.subjects)
    response.subjectsAffected = UInt64(Set(exposures.map(\.subjectID)).count + gateway.unattributed.subjects)
    response.recordsAffected = UInt64(exposures.count + gateway.unattributed.values)
    response.categories = categories
    response.specialCategoriesAffected = categories.contains { $0.specialCategory != .unspecified || $0.criminalOffence }
    let keysInScope = scope.keyIDs.intersection(keys.keyIds)
    response.encryptedOutOfScope = exposures.isEmpty && keysInScope.isEmpty
    response.draftNotification = BreachNotice(
      scope: scope, response: response, keysInScope: keysInScope.sorted(), activeKeyID: keys.activeKeyID
    ).json
    return response
  }

  /// REVEAL and EXPORT entries of the vault's access log in the window.
  private func vaultExposures(_ scope: Scope) async throws -> Set<Exposure> {
    var exposures: Set<Exposure> = []
    for actor in scope.actors.isEmpty ? [""] : scope.actors {
      let entries = try await context.all(VaultMethod.ListAccessLog.self, .with {
        $0.actor = actor
        $0.kinds = [.reveal, .export]
        $0.startTime = scope.from.protoTimestamp
        $0.endTime = scope.to.protoTimestamp
      }, \.entries)
      for entry in entries where scope.covers(field: entry.field) && !entry.field.isEmpty {
        exposures.insert(Exposure(subjectID: entry.subjectID, field: entry.field))
      }
    }
    return exposures
  }

  /// What batch reads exposed without naming their subjects.
  struct Unattributed {
    var subjects = 0
    var values = 0
    var fields: Set<String> = []
  }

  /// Records answered through the gateway in the window: every field the caller's role sees in
  /// CLEAR counts as seen, for the subject the entry names, or for as many subjects as a batch
  /// entry counts.
  private func gatewayExposures(
    _ scope: Scope, definitions: [String: Privacy_Vault_V1_FieldDefinition]
  ) async throws -> (attributed: Set<Exposure>, unattributed: Unattributed) {
    var exposures: Set<Exposure> = []
    var unattributed = Unattributed()
    for actor in scope.actors.isEmpty ? [nil] : scope.actors.map(Optional.some) {
      for method in Self.recordAnswers + Self.batchRecordAnswers {
        var before: UInt64?
        while true {
          let entries = try await context.gateway.audit.entries(AuditQuery(
            actor: actor, method: .method(method), start: scope.from, end: scope.to, statusCode: 0, before: before, limit: 1000))
          for entry in entries where entry.draft.phase != .intent {
            guard let role = context.gateway.policy.role(entry.draft.role) else { continue }
            let clear = definitions.filter { name, definition in
              let facts = FieldFacts(definition)
              return scope.covers(field: name) && facts.classification != .sensitive && role.fields.level(for: facts) == .clear
            }.keys
            if !entry.draft.subjectID.isEmpty {
              for name in clear { exposures.insert(Exposure(subjectID: entry.draft.subjectID, field: name)) }
            } else if entry.draft.subjectsTouched > 0, !clear.isEmpty {
              unattributed.subjects += entry.draft.subjectsTouched
              unattributed.values += entry.draft.subjectsTouched * clear.count
              unattributed.fields.formUnion(clear)
            }
          }
          guard entries.count == 1000, let last = entries.last else { break }
          before = last.sequence
        }
      }
    }
    return (exposures, unattributed)
  }
}
