import GRPCCore
import PrivacyKit
import PrivacyProtocol

/// The re-entry check every path that creates a person runs (CreateContact, a PutRecord that
/// creates a record): the values of fields tagged as identifiers (email, phone, national id)
/// against the blocklist of erased people.
struct ReentryCheck {
  let context: WorkflowContext

  /// The identifiers among `values`, by the tags of the vault's field definitions.
  static func identifiers(
    _ values: [String: String], fields: [String: Privacy_Vault_V1_FieldDefinition]
  ) -> [Privacy_Blocklist_V1_Identifier] {
    values.keys.sorted().compactMap { name -> Privacy_Blocklist_V1_Identifier? in
      guard let value = values[name], !value.isEmpty, let kind = IdentifierFields.kind(tags: fields[name]?.tags ?? []) else { return nil }
      return .with {
        $0.kind = kind
        $0.value = value
      }
    }
  }

  /// The identifiers a subject's record holds, in clear (masked ones revealed with `reason`, in
  /// the vault's access log); nil when the subject has no record.
  func identifiers(ofSubject subjectID: String, reason: String) async throws -> [Privacy_Blocklist_V1_Identifier]? {
    guard let record = try await context.sendIfFound(VaultMethod.GetRecord.self, .with { $0.subjectID = subjectID })?.record
    else { return nil }
    var identifiers: [Privacy_Blocklist_V1_Identifier] = []
    for field in record.fields where !field.value.isEmpty {
      guard let kind = IdentifierFields.kind(tags: field.tags) else { continue }
      var value = field.value
      if field.masked {
        value = try await context.send(VaultMethod.RevealField.self, .with {
          $0.subjectID = subjectID
          $0.field = field.name
          $0.reason = String(reason.prefix(500))
        }).value
      }
      identifiers.append(.with {
        $0.kind = kind
        $0.value = value
      })
    }
    return identifiers
  }

  /// The blocklist's matches for `identifiers`, oldest entry first; empty when none matches.
  func matches(_ identifiers: [Privacy_Blocklist_V1_Identifier]) async throws -> [Privacy_Blocklist_V1_CheckResult] {
    guard !identifiers.isEmpty else { return [] }
    let check = try await context.send(BlocklistMethod.Check.self, .with { $0.identifiers = identifiers })
    return check.matches.filter(\.matched).sorted { $0.addedAt.date < $1.addedAt.date }
  }

  /// The request removing the entries `matches` found among `identifiers`: the person re-entered
  /// through their own webform (`confirmation` says how that was proven, if it was later).
  static func ownWebformRemoval(
    _ matches: [Privacy_Blocklist_V1_CheckResult], of identifiers: [Privacy_Blocklist_V1_Identifier], confirmation: String? = nil
  ) -> Privacy_Blocklist_V1_RemoveRequest {
    .with {
      $0.identifiers = matches.map { identifiers[Int($0.index)] }
      $0.reason = "re-entry through the person's own webform submission" + (confirmation.map { ", \($0)" } ?? "")
    }
  }

  /// The refusal a match gives when nothing allows re-entry.
  static func refusal(_ oldest: Privacy_Blocklist_V1_CheckResult) -> WorkflowError {
    WorkflowError.previouslyErased(erasedAt: RFC3339.string(oldest.addedAt.date), reason: oldest.reason)
  }
}
