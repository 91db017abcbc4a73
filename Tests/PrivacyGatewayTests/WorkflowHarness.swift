import Foundation
import GRPCCore
import GRPCProtobuf
import PrivacyGateway
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting

typealias RightsClient = Privacy_Rights_V1_SubjectRightsService.Client<Transport>
typealias BlocklistClient = Privacy_Blocklist_V1_BlocklistService.Client<Transport>

/// The schema the workflow tests run against: the vault fields of `TestData` plus a phone,
/// purposes of every category, and a recipient receiving the shared purpose.
enum WorkflowData {
  static let phone = "+49 30 1234567"
  static let contactValues: [String: String] = TestData.values.merging(["phone": phone]) { _, new in new }

  static let purposes: [Privacy_Consent_V1_Purpose] = [
    purpose("storage", .dataStorage, .consent, fields: ["iban", "diagnosis"]),
    purpose("newsletter", .emailMarketing, .consent),
    purpose("partners", .thirdPartySharing, .consent),
    purpose("scoring", .automatedDecisions, .consent),
    purpose("analytics", .engagementTracking, .legitimateInterests),
  ]

  static func purpose(
    _ id: String, _ category: Privacy_Consent_V1_PurposeCategory, _ basis: Privacy_Consent_V1_LegalBasis, fields: [String] = []
  ) -> Privacy_Consent_V1_Purpose {
    .with {
      $0.purposeID = id
      $0.title = id.capitalized
      $0.legalBasis = basis
      $0.category = category
      $0.retentionDays = 365
      $0.noticeVersion = "v1"
      $0.noticeText = "We use your data for \(id)."
      $0.vaultFields = fields
    }
  }

  /// Defines fields, purposes and a recipient straight in the backends (internal token).
  static func seed(_ backends: [BackendKind: Int]) async throws {
    try await withTestClient(port: backends[.vault]!) { client async throws in
      let vault = VaultClient(wrapping: client)
      for field in TestData.fields { _ = try await vault.upsertField(field) }
      _ = try await vault.upsertField(.with {
        $0.name = "phone"
        $0.classification = .personal
        $0.tags = ["phone"]
      })
    }
    try await withTestClient(port: backends[.consent]!) { client async throws in
      let consent = ConsentClient(wrapping: client)
      for purpose in purposes { _ = try await consent.upsertPurpose(.with { $0.purpose = purpose }) }
    }
    try await withTestClient(port: backends[.rights]!) { client async throws in
      _ = try await RightsClient(wrapping: client).upsertRecipient(.with {
        $0.recipientID = "acme-ads"
        $0.name = "ACME Ads"
        $0.contact = "privacy@acme.example"
        $0.purposeIds = ["partners"]
      })
    }
  }

  /// A webform submission consenting to storage, newsletter and partners. With the marketing box
  /// ticked the contact waits for its double opt-in (its record is pending); without it the
  /// record is usable at once.
  static func webformContact(
    values: [String: String] = contactValues, ownWebform: Bool = false, marketingBox: Bool = false
  ) -> Privacy_Gateway_V1_CreateContactRequest {
    .with {
      $0.values = values
      $0.consents = ["storage", "newsletter", "partners", "scoring"].map { id in
        .with {
          $0.purposeID = id
          $0.decision = .granted
        }
      }
      $0.source = .with {
        $0.evidence = .with {
          $0.channel = .webform
          $0.formName = "signup"
          $0.ipAddress = "203.0.113.7"
        }
        $0.ownWebformSubmission = ownWebform
        $0.marketingBoxTicked = marketingBox
      }
    }
  }

  /// Opens a request through the gateway as the DPO and verifies it manually.
  static func openVerified(
    _ client: GRPCClient<Transport>, subject: String, right: Privacy_Rights_V1_Right,
    details: Privacy_Rights_V1_RequestDetails? = nil
  ) async throws -> String {
    let rights = RightsClient(wrapping: client)
    let opened = try await rights.openRequest(.with {
      $0.subjectID = subject
      $0.right = right
      $0.requesterEmail = "ada@example.org"
      $0.channel = .email
      if let details { $0.details = details }
    }).request
    _ = try await rights.verifyManually(.with {
      $0.requestID = opened.requestID
      $0.note = "passport seen at the front desk"
    })
    return opened.requestID
  }
}

extension RPCError {
  var errorInfo: ErrorDetails.ErrorInfo? {
    (try? unpackGoogleRPCStatus())?.details.lazy.compactMap(\.errorInfo).first
  }
}
