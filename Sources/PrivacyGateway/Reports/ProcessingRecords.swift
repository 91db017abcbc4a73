import Foundation
import PrivacyKit
import PrivacyProtocol

/// GetProcessingRecords: the records of processing activities (art 30(1)) built from what the
/// suite holds: the purposes (basis, category, retention, the vault fields they name, the
/// categories of subjects), the vault's field definitions and keyring, and the recipients'
/// register with its third-country transfers. The technical measures are those of the running
/// suite, not a text someone typed.
struct ProcessingRecords {
  let context: WorkflowContext

  func build() async throws -> Privacy_Gateway_V1_GetProcessingRecordsResponse {
    let purposes = try await context.purposes()
    let fieldsPage = try await context.send(VaultMethod.ListFields.self, .with { $0.pageSize = 1 })
    let fields = try await context.vaultFields()
    let recipients = try await context.recipients()
    var response = Privacy_Gateway_V1_GetProcessingRecordsResponse()
    response.generatedAt = Date().protoTimestamp
    response.records = purposes.values.sorted { $0.purposeID < $1.purposeID }.map { purpose in
      let receiving = recipients.filter { $0.purposeIds.contains(purpose.purposeID) }.sorted { $0.recipientID < $1.recipientID }
      return .with {
        $0.purposeID = purpose.purposeID
        $0.title = purpose.title
        $0.description_p = purpose.description_p
        $0.legalBasis = purpose.legalBasis
        $0.category = purpose.category
        $0.retentionDays = purpose.retentionDays
        $0.subjectCategories = purpose.subjectCategories
        $0.dataCategories = purpose.vaultFields.sorted().map { Privacy_Gateway_V1_DataCategory(field: $0, definition: fields[$0]) }
        $0.recipients = receiving.map { recipient in
          .with {
            $0.recipientID = recipient.recipientID
            $0.name = recipient.name
            $0.contact = recipient.contact
          }
        }
        $0.transfers = receiving.filter { !$0.transferCountry.isEmpty }.map { recipient in
          .with {
            $0.recipientID = recipient.recipientID
            $0.country = recipient.transferCountry
            $0.safeguard = recipient.transferSafeguard
          }
        }
        $0.technicalMeasures = measures(holdsVaultData: !purpose.vaultFields.isEmpty, keys: fieldsPage)
      }
    }
    return response
  }

  /// The measures in force, as this gateway and its vault are configured.
  private func measures(holdsVaultData: Bool, keys: Privacy_Vault_V1_ListFieldsResponse) -> [String] {
    var measures: [String] = []
    if holdsVaultData {
      measures.append(
        "values encrypted at rest with a data key per subject (AES-256-GCM), wrapped by key-encryption key \(keys.activeKeyID) "
          + "(keyring: \(keys.keyIds.joined(separator: ", ")))")
      measures.append("erasure destroys the subject's data key and overwrites the values on disk")
    }
    measures.append("access by role and per-field level (the gateway's policy); every call through the gateway audited")
    measures.append("gateway audit log: HMAC-SHA256 chain written ahead of every action, with signed checkpoints")
    measures.append("consent ledger and vault access log: hash-chained, append-only")
    measures.append(
      context.settings.backendsOverMutualTLS
        ? "transport: TLS on every port, mutual TLS from the gateway to the backends"
        : "transport: plaintext between the gateway and the backends (a local run)")
    return measures
  }
}

extension Privacy_Gateway_V1_DataCategory {
  /// A vault field as a category of data. A field the vault no longer defines is reported as
  /// the most protected kind.
  init(field: String, definition: Privacy_Vault_V1_FieldDefinition?) {
    self.init()
    self.field = field
    classification = definition?.classification ?? .sensitive
    specialCategory = definition?.specialCategory ?? .unspecified
    criminalOffence = definition?.criminalOffence ?? false
    description_p = definition?.description_p ?? ""
  }
}
