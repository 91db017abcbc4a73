import GRPCCore
import PrivacyProtocol
import SwiftProtobuf

/// A generated backend method a workflow calls: its messages, descriptor and the backend serving
/// it, so `WorkflowContext.send` is typed end to end.
protocol BackendMethod {
  associatedtype Input: SwiftProtobuf.Message & Sendable
  associatedtype Output: SwiftProtobuf.Message & Sendable
  static var descriptor: MethodDescriptor { get }
  static var backend: BackendKind { get }
}

typealias VaultMethod = Privacy_Vault_V1_VaultService.Method
typealias ConsentMethod = Privacy_Consent_V1_ConsentService.Method
typealias RightsMethod = Privacy_Rights_V1_SubjectRightsService.Method
typealias BlocklistMethod = Privacy_Blocklist_V1_BlocklistService.Method

protocol VaultBackendMethod: BackendMethod {}
extension VaultBackendMethod { static var backend: BackendKind { .vault } }
protocol ConsentBackendMethod: BackendMethod {}
extension ConsentBackendMethod { static var backend: BackendKind { .consent } }
protocol RightsBackendMethod: BackendMethod {}
extension RightsBackendMethod { static var backend: BackendKind { .rights } }
protocol BlocklistBackendMethod: BackendMethod {}
extension BlocklistBackendMethod { static var backend: BackendKind { .blocklist } }

extension VaultMethod.ListFields: VaultBackendMethod {}
extension VaultMethod.PutRecord: VaultBackendMethod {}
extension VaultMethod.GetRecord: VaultBackendMethod {}
extension VaultMethod.RevealField: VaultBackendMethod {}
extension VaultMethod.EraseFields: VaultBackendMethod {}
extension VaultMethod.UnlockFields: VaultBackendMethod {}
extension VaultMethod.ErasePersonalData: VaultBackendMethod {}
extension VaultMethod.ReleaseRecord: VaultBackendMethod {}
extension VaultMethod.SetRestriction: VaultBackendMethod {}
extension VaultMethod.SetHumanReview: VaultBackendMethod {}
extension VaultMethod.ExportRecord: VaultBackendMethod {}

extension ConsentMethod.ListPurposes: ConsentBackendMethod {}
extension ConsentMethod.ListMailingLists: ConsentBackendMethod {}
extension ConsentMethod.RecordConsent: ConsentBackendMethod {}
extension ConsentMethod.GetConsentState: ConsentBackendMethod {}
extension ConsentMethod.ListConsentEvents: ConsentBackendMethod {}
extension ConsentMethod.SetEmailOptInStatus: ConsentBackendMethod {}
extension ConsentMethod.StartDoubleOptIn: ConsentBackendMethod {}
extension ConsentMethod.ListSubscriptions: ConsentBackendMethod {}
extension ConsentMethod.SetProcessingRestriction: ConsentBackendMethod {}
extension ConsentMethod.EraseSubject: ConsentBackendMethod {}
extension ConsentMethod.CreatePreferenceLink: ConsentBackendMethod {}

extension RightsMethod.OpenRequest: RightsBackendMethod {}
extension RightsMethod.StartVerification: RightsBackendMethod {}
extension RightsMethod.VerifyManually: RightsBackendMethod {}
extension RightsMethod.GetRequest: RightsBackendMethod {}
extension RightsMethod.ListRequests: RightsBackendMethod {}
extension RightsMethod.StartProcessing: RightsBackendMethod {}
extension RightsMethod.RecordStep: RightsBackendMethod {}
extension RightsMethod.CompleteRequest: RightsBackendMethod {}
extension RightsMethod.ListRecipients: RightsBackendMethod {}
extension RightsMethod.NotifyRecipients: RightsBackendMethod {}
extension RightsMethod.RecordEngagement: RightsBackendMethod {}
extension RightsMethod.ListDueForRetention: RightsBackendMethod {}
extension RightsMethod.ListEngagements: RightsBackendMethod {}

extension BlocklistMethod.Add: BlocklistBackendMethod {}
extension BlocklistMethod.Check: BlocklistBackendMethod {}
extension BlocklistMethod.Remove: BlocklistBackendMethod {}

extension VaultMethod.ListAccessLog: VaultBackendMethod {}
