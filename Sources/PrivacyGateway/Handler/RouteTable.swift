import GRPCCore
import PrivacyProtocol

// The typed route table: every method of the four backend services, re-served by the gateway
// under the same names with the generated request and response types. One generic forward
// function does the work (`ForwardRoute`); only the vault methods whose answers carry field
// values, or that reveal one, add a filter (`VaultFiltering`). `RouteTableTests` checks the table
// against the generated descriptors, so a method added to a backend proto cannot be missed.

private typealias Consent = Privacy_Consent_V1_ConsentService.Method
private typealias Vault = Privacy_Vault_V1_VaultService.Method
private typealias Rights = Privacy_Rights_V1_SubjectRightsService.Method
private typealias Blocklist = Privacy_Blocklist_V1_BlocklistService.Method

extension RouteTable {
  /// Every backend method the gateway serves.
  static let backendRoutes: [any GatewayRoute] = [
    // ConsentService (consent)
    UnaryRoute(Consent.UpsertPurpose.self, .consent, handler: ConsentCopyAnswers.catalogueChange),
    UnaryRoute(Consent.ListPurposes.self, .consent),
    UnaryRoute(Consent.RecordConsent.self, .consent),
    UnaryRoute(Consent.CheckConsent.self, .consent, handler: ConsentCopyAnswers.checkConsent),
    UnaryRoute(Consent.CheckConsentBatch.self, .consent, handler: ConsentCopyAnswers.checkConsentBatch),
    UnaryRoute(Consent.GetConsentState.self, .consent),
    UnaryRoute(Consent.ListConsentEvents.self, .consent),
    UnaryRoute(Consent.ListSubjects.self, .consent),
    UnaryRoute(Consent.BulkUpdate.self, .consent, budget: .workflow),
    UnaryRoute(Consent.SetEmailOptInStatus.self, .consent),
    UnaryRoute(Consent.StartDoubleOptIn.self, .consent),
    UnaryRoute(Consent.ConfirmDoubleOptIn.self, .consent),
    UnaryRoute(Consent.CheckEmailEligibility.self, .consent, handler: ConsentCopyAnswers.checkEmailEligibility),
    UnaryRoute(Consent.UpsertMailingList.self, .consent, handler: ConsentCopyAnswers.catalogueChange),
    UnaryRoute(Consent.ListMailingLists.self, .consent),
    UnaryRoute(Consent.Subscribe.self, .consent),
    UnaryRoute(Consent.Unsubscribe.self, .consent),
    UnaryRoute(Consent.ListSubscriptions.self, .consent),
    UnaryRoute(Consent.RequestPreferenceChange.self, .consent, budget: .workflow, handler: LinkedPreferenceChange.request),
    UnaryRoute(Consent.ConfirmPreferenceChange.self, .consent),
    UnaryRoute(Consent.SetProcessingRestriction.self, .consent),
    UnaryRoute(Consent.EraseSubject.self, .consent),
    StreamRoute(Consent.WatchConsentEvents.self, .consent),
    UnaryRoute(Consent.VerifyLedger.self, .consent),
    UnaryRoute(Consent.ListOutbox.self, .consent),
    UnaryRoute(Consent.AckOutbox.self, .consent),
    UnaryRoute(Consent.LeaseOutbox.self, .consent),
    UnaryRoute(Consent.ReportOutboxFailure.self, .consent),
    UnaryRoute(Consent.CreatePreferenceLink.self, .consent),
    UnaryRoute(Consent.ResolvePreferenceLink.self, .consent),
    UnaryRoute(Consent.RevokePreferenceLinks.self, .consent),
    UnaryRoute(Consent.GetConsentReceipt.self, .consent),
    UnaryRoute(Consent.VerifyReceipt.self, .consent),
    UnaryRoute(Consent.GetReceiptKeys.self, .consent),
    UnaryRoute(Consent.SetSubjectAttributes.self, .consent),
    // VaultService (vault)
    UnaryRoute(Vault.UpsertField.self, .vault),
    UnaryRoute(Vault.ListFields.self, .vault),
    UnaryRoute(Vault.PutRecord.self, .vault, handler: RecordWrite.putRecord),
    UnaryRoute(Vault.GetRecord.self, .vault, handler: VaultFiltering.getRecord),
    UnaryRoute(Vault.GetRecords.self, .vault, handler: VaultFiltering.getRecords),
    UnaryRoute(Vault.RevealField.self, .vault, handler: VaultFiltering.revealField),
    UnaryRoute(Vault.ListAccessLog.self, .vault),
    UnaryRoute(Vault.VerifyAccessLog.self, .vault),
    UnaryRoute(Vault.FindByField.self, .vault, handler: VaultFiltering.findByField),
    UnaryRoute(Vault.EraseFields.self, .vault),
    UnaryRoute(Vault.UnlockFields.self, .vault),
    UnaryRoute(Vault.ErasePersonalData.self, .vault),
    UnaryRoute(Vault.ReleaseRecord.self, .vault),
    UnaryRoute(Vault.SetRestriction.self, .vault),
    UnaryRoute(Vault.SetHumanReview.self, .vault),
    UnaryRoute(Vault.ExportRecord.self, .vault, handler: VaultFiltering.exportRecord),
    UnaryRoute(Vault.RotateMasterKey.self, .vault),
    // SubjectRightsService (rights)
    UnaryRoute(Rights.OpenRequest.self, .rights, budget: .workflow, handler: LinkedRightsRequest.open),
    UnaryRoute(Rights.StartVerification.self, .rights, budget: .workflow, handler: RequesterMailFooter.forward),
    UnaryRoute(Rights.ConfirmVerification.self, .rights),
    UnaryRoute(Rights.VerifyManually.self, .rights),
    UnaryRoute(Rights.IdentifySubject.self, .rights),
    UnaryRoute(Rights.ExtendDeadline.self, .rights, budget: .workflow, handler: RequesterMailFooter.forward),
    UnaryRoute(Rights.GetRequest.self, .rights),
    UnaryRoute(Rights.ListRequests.self, .rights),
    UnaryRoute(Rights.StartProcessing.self, .rights),
    UnaryRoute(Rights.RecordStep.self, .rights),
    UnaryRoute(Rights.ListEngagements.self, .rights),
    UnaryRoute(Rights.CompleteRequest.self, .rights, budget: .workflow, handler: RequesterMailFooter.forward),
    UnaryRoute(Rights.RejectRequest.self, .rights, budget: .workflow, handler: RequesterMailFooter.forward),
    UnaryRoute(Rights.GetArtifact.self, .rights, handler: BundleDelivery.getArtifact),
    UnaryRoute(Rights.UpsertRecipient.self, .rights),
    UnaryRoute(Rights.ListRecipients.self, .rights),
    UnaryRoute(Rights.NotifyRecipients.self, .rights),
    UnaryRoute(Rights.UpsertRetentionPolicy.self, .rights),
    UnaryRoute(Rights.ListRetentionPolicies.self, .rights),
    UnaryRoute(Rights.RecordEngagement.self, .rights),
    UnaryRoute(Rights.ListDueForRetention.self, .rights),
    UnaryRoute(Rights.ListOutbox.self, .rights),
    UnaryRoute(Rights.AckOutbox.self, .rights),
    UnaryRoute(Rights.LeaseOutbox.self, .rights),
    UnaryRoute(Rights.ReportOutboxFailure.self, .rights),
    // BlocklistService (blocklist)
    UnaryRoute(Blocklist.Add.self, .blocklist),
    UnaryRoute(Blocklist.Check.self, .blocklist),
    UnaryRoute(Blocklist.Remove.self, .blocklist),
    UnaryRoute(Blocklist.List.self, .blocklist),
  ]
}

// The generated method namespaces, typed for the table.
extension Consent.UpsertPurpose: GeneratedMethod {}
extension Consent.ListPurposes: GeneratedMethod {}
extension Consent.RecordConsent: GeneratedMethod {}
extension Consent.CheckConsent: GeneratedMethod {}
extension Consent.CheckConsentBatch: GeneratedMethod {}
extension Consent.GetConsentState: GeneratedMethod {}
extension Consent.ListConsentEvents: GeneratedMethod {}
extension Consent.ListSubjects: GeneratedMethod {}
extension Consent.BulkUpdate: GeneratedMethod {}
extension Consent.SetEmailOptInStatus: GeneratedMethod {}
extension Consent.StartDoubleOptIn: GeneratedMethod {}
extension Consent.ConfirmDoubleOptIn: GeneratedMethod {}
extension Consent.CheckEmailEligibility: GeneratedMethod {}
extension Consent.UpsertMailingList: GeneratedMethod {}
extension Consent.ListMailingLists: GeneratedMethod {}
extension Consent.Subscribe: GeneratedMethod {}
extension Consent.Unsubscribe: GeneratedMethod {}
extension Consent.ListSubscriptions: GeneratedMethod {}
extension Consent.RequestPreferenceChange: GeneratedMethod {}
extension Consent.ConfirmPreferenceChange: GeneratedMethod {}
extension Consent.SetProcessingRestriction: GeneratedMethod {}
extension Consent.EraseSubject: GeneratedMethod {}
extension Consent.WatchConsentEvents: GeneratedMethod {}
extension Consent.VerifyLedger: GeneratedMethod {}
extension Consent.ListOutbox: GeneratedMethod {}
extension Consent.AckOutbox: GeneratedMethod {}
extension Consent.LeaseOutbox: GeneratedMethod {}
extension Consent.ReportOutboxFailure: GeneratedMethod {}
extension Consent.CreatePreferenceLink: GeneratedMethod {}
extension Consent.ResolvePreferenceLink: GeneratedMethod {}
extension Consent.RevokePreferenceLinks: GeneratedMethod {}
extension Consent.GetConsentReceipt: GeneratedMethod {}
extension Consent.VerifyReceipt: GeneratedMethod {}
extension Consent.GetReceiptKeys: GeneratedMethod {}
extension Consent.SetSubjectAttributes: GeneratedMethod {}
extension Vault.UpsertField: GeneratedMethod {}
extension Vault.ListFields: GeneratedMethod {}
extension Vault.PutRecord: GeneratedMethod {}
extension Vault.GetRecord: GeneratedMethod {}
extension Vault.GetRecords: GeneratedMethod {}
extension Vault.RevealField: GeneratedMethod {}
extension Vault.ListAccessLog: GeneratedMethod {}
extension Vault.VerifyAccessLog: GeneratedMethod {}
extension Vault.FindByField: GeneratedMethod {}
extension Vault.EraseFields: GeneratedMethod {}
extension Vault.UnlockFields: GeneratedMethod {}
extension Vault.ErasePersonalData: GeneratedMethod {}
extension Vault.ReleaseRecord: GeneratedMethod {}
extension Vault.SetRestriction: GeneratedMethod {}
extension Vault.SetHumanReview: GeneratedMethod {}
extension Vault.ExportRecord: GeneratedMethod {}
extension Vault.RotateMasterKey: GeneratedMethod {}
extension Rights.OpenRequest: GeneratedMethod {}
extension Rights.StartVerification: GeneratedMethod {}
extension Rights.ConfirmVerification: GeneratedMethod {}
extension Rights.VerifyManually: GeneratedMethod {}
extension Rights.IdentifySubject: GeneratedMethod {}
extension Rights.ExtendDeadline: GeneratedMethod {}
extension Rights.GetRequest: GeneratedMethod {}
extension Rights.ListRequests: GeneratedMethod {}
extension Rights.StartProcessing: GeneratedMethod {}
extension Rights.RecordStep: GeneratedMethod {}
extension Rights.ListEngagements: GeneratedMethod {}
extension Rights.CompleteRequest: GeneratedMethod {}
extension Rights.RejectRequest: GeneratedMethod {}
extension Rights.GetArtifact: GeneratedMethod {}
extension Rights.UpsertRecipient: GeneratedMethod {}
extension Rights.ListRecipients: GeneratedMethod {}
extension Rights.NotifyRecipients: GeneratedMethod {}
extension Rights.UpsertRetentionPolicy: GeneratedMethod {}
extension Rights.ListRetentionPolicies: GeneratedMethod {}
extension Rights.RecordEngagement: GeneratedMethod {}
extension Rights.ListDueForRetention: GeneratedMethod {}
extension Rights.ListOutbox: GeneratedMethod {}
extension Rights.AckOutbox: GeneratedMethod {}
extension Rights.LeaseOutbox: GeneratedMethod {}
extension Rights.ReportOutboxFailure: GeneratedMethod {}
extension Blocklist.Add: GeneratedMethod {}
extension Blocklist.Check: GeneratedMethod {}
extension Blocklist.Remove: GeneratedMethod {}
extension Blocklist.List: GeneratedMethod {}
