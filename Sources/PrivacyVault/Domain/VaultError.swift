public import PrivacyKit

/// Everything the vault's rules refuse, with the status code and ErrorInfo reason a client sees.
/// Messages name subjects, fields and key ids, never values.
public enum VaultError: PrivacyError, Equatable {
  case subjectNotFound(String)
  case fieldNotFound(String)
  case noValue(subjectID: String, field: String)
  case recordRestricted(String)
  case recordErased(String)
  /// The record waits for its double opt-in (PutRecordRequest.pending).
  case recordPending(String)
  /// An erasure meant only for a pending record found it released.
  case recordNotPending(String)
  case fieldLocked(subjectID: String, field: String)
  case fieldNotSearchable(String)
  case encryptionIrreversible(field: String)
  case classificationDowngrade(field: String, from: Classification, to: Classification)
  /// The field would make more quasi-identifiers counted than QuasiIdentifierCounts allows.
  case tooManyQuasiIdentifiers(field: String)
  case keyNotConfigured(keyID: String, subjectID: String?)
  case valueUnreadable(subjectID: String, field: String)
  case dataKeyUnreadable(subjectID: String)
  /// A stored row holds something no code wrote (tampering): the record cannot be read.
  case storedRecordCorrupt(subjectID: String, column: String)
  /// The store failed (disk full, file unreadable, locked too long): nothing was changed, and
  /// no value was returned.

  public static let errorDomain = "privacy.vault.v1"

  public var statusCode: StatusCode {
    switch self {
    case .subjectNotFound, .fieldNotFound, .noValue: .notFound
    case .recordRestricted, .recordErased, .recordPending, .recordNotPending, .fieldLocked, .fieldNotSearchable, .encryptionIrreversible,
      .classificationDowngrade, .tooManyQuasiIdentifiers, .keyNotConfigured:
      .failedPrecondition
    case .valueUnreadable, .dataKeyUnreadable, .storedRecordCorrupt: .dataLoss
    }
  }

  public var message: String {
    switch self {
    case .subjectNotFound(let id): "subject \(id.clipped) has no record"
    case .fieldNotFound(let name): "field \(name) is not defined"
    case .noValue(let subject, let field): "field \(field) of subject \(subject.clipped) holds no value"
    case .recordRestricted(let id): "processing of subject \(id.clipped) is restricted: the record refuses writes until the restriction is lifted"
    case .recordErased(let id): "the personal data of subject \(id.clipped) was erased: the record refuses writes"
    case .recordPending(let id): "subject \(id.clipped) waits for the confirmation of a double opt-in: the record is not usable until then"
    case .recordNotPending(let id): "the record of subject \(id.clipped) is not pending: nothing was erased"
    case .fieldLocked(let subject, let field): "field \(field) of subject \(subject.clipped) is locked: unlock it before writing"
    case .fieldNotSearchable(let name): "field \(name) is not searchable"
    case .encryptionIrreversible(let name): "field \(name) is encrypted (or must be): encryption cannot be turned off"
    case .classificationDowngrade(let name, let from, let to):
      "field \(name) holds values: its classification cannot be lowered from \(from.rawValue) to \(to.rawValue)"
    case .tooManyQuasiIdentifiers(let name):
      "field \(name) would be the \(QuasiIdentifierCounts.maximumCountedFields + 1)th quasi-identifier of classification NONE: at most \(QuasiIdentifierCounts.maximumCountedFields) are allowed"
    case .keyNotConfigured(let keyID, let subject?):
      "the data key of subject \(subject.clipped) is wrapped under key \(keyID), which is not in the keyring"
    case .keyNotConfigured(let keyID, nil): "key \(keyID) is not in the keyring"
    case .valueUnreadable(let subject, let field):
      "the stored value of field \(field) of subject \(subject.clipped) fails to open (tampered or moved ciphertext)"
    case .dataKeyUnreadable(let subject): "the data key of subject \(subject.clipped) fails to open under its key-encryption key"
    case .storedRecordCorrupt(let subject, let column): "the stored record of subject \(subject.clipped) is unreadable (column \(column))"
    }
  }

  public var reason: String? {
    switch self {
    case .recordRestricted: "RECORD_RESTRICTED"
    case .recordErased: "RECORD_ERASED"
    case .recordPending: "RECORD_PENDING"
    case .recordNotPending: "RECORD_NOT_PENDING"
    case .fieldLocked: "FIELD_LOCKED"
    case .fieldNotSearchable: "FIELD_NOT_SEARCHABLE"
    case .encryptionIrreversible: "ENCRYPTION_IRREVERSIBLE"
    case .classificationDowngrade: "CLASSIFICATION_DOWNGRADE"
    case .tooManyQuasiIdentifiers: "TOO_MANY_QUASI_IDENTIFIERS"
    case .keyNotConfigured: "KEY_NOT_CONFIGURED"
    case .valueUnreadable: "VALUE_UNREADABLE"
    case .dataKeyUnreadable: "DATA_KEY_UNREADABLE"
    case .storedRecordCorrupt: "RECORD_UNREADABLE"
    case .subjectNotFound, .fieldNotFound, .noValue: nil
    }
  }

  public var reasonMetadata: [String: String] {
    switch self {
    case .recordRestricted(let id), .recordErased(let id), .recordPending(let id), .recordNotPending(let id), .dataKeyUnreadable(let id):
      ["subject_id": id]
    case .fieldLocked(let subject, let field), .valueUnreadable(let subject, let field): ["subject_id": subject, "field": field]
    case .fieldNotSearchable(let field), .encryptionIrreversible(let field), .classificationDowngrade(let field, _, _),
      .tooManyQuasiIdentifiers(let field):
      ["field": field]
    case .keyNotConfigured(let keyID, let subject): ["key_id": keyID].merging(subject.map { ["subject_id": $0] } ?? [:]) { a, _ in a }
    case .storedRecordCorrupt(let subject, _): ["subject_id": subject]
    case .subjectNotFound, .fieldNotFound, .noValue: [:]
    }
  }
}
