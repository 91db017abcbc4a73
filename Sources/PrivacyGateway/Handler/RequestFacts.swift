import PrivacyProtocol

/// A request that names the subject it is about; its `subject_id` goes into the audit entry.
/// Conformances are listed by hand (no reflection): every request message with a top-level
/// `subject_id` field.
protocol NamesSubject {
  var subjectID: String { get }
}

extension Privacy_Consent_V1_RecordConsentRequest: NamesSubject {}
extension Privacy_Consent_V1_CheckConsentRequest: NamesSubject {}
extension Privacy_Consent_V1_GetConsentStateRequest: NamesSubject {}
extension Privacy_Consent_V1_ListConsentEventsRequest: NamesSubject {}
extension Privacy_Consent_V1_SetEmailOptInStatusRequest: NamesSubject {}
extension Privacy_Consent_V1_StartDoubleOptInRequest: NamesSubject {}
extension Privacy_Consent_V1_CheckEmailEligibilityRequest: NamesSubject {}
extension Privacy_Consent_V1_SubscribeRequest: NamesSubject {}
extension Privacy_Consent_V1_UnsubscribeRequest: NamesSubject {}
extension Privacy_Consent_V1_ListSubscriptionsRequest: NamesSubject {}
extension Privacy_Consent_V1_RequestPreferenceChangeRequest: NamesSubject {}
extension Privacy_Consent_V1_SetProcessingRestrictionRequest: NamesSubject {}
extension Privacy_Consent_V1_EraseSubjectRequest: NamesSubject {}
extension Privacy_Consent_V1_VerifyLedgerRequest: NamesSubject {}
extension Privacy_Consent_V1_CreatePreferenceLinkRequest: NamesSubject {}
extension Privacy_Consent_V1_RevokePreferenceLinksRequest: NamesSubject {}
extension Privacy_Consent_V1_GetConsentReceiptRequest: NamesSubject {}
extension Privacy_Consent_V1_SetSubjectAttributesRequest: NamesSubject {}
extension Privacy_Vault_V1_PutRecordRequest: NamesSubject {}
extension Privacy_Vault_V1_GetRecordRequest: NamesSubject {}
extension Privacy_Vault_V1_RevealFieldRequest: NamesSubject {}
extension Privacy_Vault_V1_ListAccessLogRequest: NamesSubject {}
extension Privacy_Vault_V1_EraseFieldsRequest: NamesSubject {}
extension Privacy_Vault_V1_UnlockFieldsRequest: NamesSubject {}
extension Privacy_Vault_V1_ReleaseRecordRequest: NamesSubject {}
extension Privacy_Vault_V1_ErasePersonalDataRequest: NamesSubject {}
extension Privacy_Vault_V1_SetRestrictionRequest: NamesSubject {}
extension Privacy_Vault_V1_SetHumanReviewRequest: NamesSubject {}
extension Privacy_Vault_V1_ExportRecordRequest: NamesSubject {}
extension Privacy_Rights_V1_OpenRequestRequest: NamesSubject {}
extension Privacy_Rights_V1_IdentifySubjectRequest: NamesSubject {}
extension Privacy_Rights_V1_ListRequestsRequest: NamesSubject {
  /// The subject the filter names; empty (any subject) names none.
  var subjectID: String { filter.subjectID }
}
extension Privacy_Rights_V1_RecordEngagementRequest: NamesSubject {}
extension Privacy_Gateway_V1_CreateContactRequest: NamesSubject {}
extension Privacy_Gateway_V1_WithdrawConsentRequest: NamesSubject {}
extension Privacy_Gateway_V1_StopProcessingRequest: NamesSubject {}
extension Privacy_Gateway_V1_ResumeProcessingRequest: NamesSubject {}
extension Privacy_Gateway_V1_ListAuditRequest: NamesSubject {}

/// A batch request about many subjects: the audit entry records how many distinct subjects it
/// named, not which (one entry per call, whatever its size).
protocol NamesSubjects {
  var subjectsTouched: Int { get }
}

extension Privacy_Consent_V1_CheckConsentBatchRequest: NamesSubjects {
  var subjectsTouched: Int { Set(checks.map(\.subjectID)).count }
}
extension Privacy_Vault_V1_GetRecordsRequest: NamesSubjects {
  var subjectsTouched: Int { Set(subjectIds).count }
}

/// A request that carries the caller's reason (reveal, erasure, restriction, override); it goes
/// into the audit entry.
protocol GivesReason {
  var auditReason: String { get }
}

extension Privacy_Blocklist_V1_AddRequest: GivesReason { var auditReason: String { reason } }
extension Privacy_Blocklist_V1_RemoveRequest: GivesReason { var auditReason: String { reason } }
extension Privacy_Consent_V1_BulkUpdateRequest: GivesReason { var auditReason: String { reason } }
extension Privacy_Consent_V1_SetProcessingRestrictionRequest: GivesReason { var auditReason: String { reason } }
extension Privacy_Consent_V1_EraseSubjectRequest: GivesReason { var auditReason: String { reason } }
extension Privacy_Rights_V1_ExtendDeadlineRequest: GivesReason { var auditReason: String { reason } }
extension Privacy_Rights_V1_RejectRequestRequest: GivesReason { var auditReason: String { reason } }
extension Privacy_Vault_V1_RevealFieldRequest: GivesReason { var auditReason: String { reason } }
extension Privacy_Vault_V1_EraseFieldsRequest: GivesReason { var auditReason: String { reason } }
extension Privacy_Vault_V1_UnlockFieldsRequest: GivesReason { var auditReason: String { reason } }
extension Privacy_Vault_V1_ReleaseRecordRequest: GivesReason { var auditReason: String { reason } }
extension Privacy_Vault_V1_ErasePersonalDataRequest: GivesReason { var auditReason: String { reason } }
extension Privacy_Vault_V1_SetRestrictionRequest: GivesReason { var auditReason: String { reason } }
extension Privacy_Vault_V1_SetHumanReviewRequest: GivesReason { var auditReason: String { reason } }
extension Privacy_Vault_V1_ExportRecordRequest: GivesReason { var auditReason: String { reason } }
extension Privacy_Gateway_V1_CreateContactRequest: GivesReason { var auditReason: String { overrideReason } }
extension Privacy_Gateway_V1_StopProcessingRequest: GivesReason { var auditReason: String { reason } }
extension Privacy_Gateway_V1_ResumeProcessingRequest: GivesReason { var auditReason: String { reason } }
