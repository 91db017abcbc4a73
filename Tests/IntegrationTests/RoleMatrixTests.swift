import Foundation
import GRPCCore
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import SwiftProtobuf
import Testing

/// Every role of the shipped policy against every method the gateway serves and every field
/// classification, through the real executables: the exact outcome of each call, and a search of
/// every response's bytes for the clear sensitive test values.
@Suite("Role matrix through the gateway")
struct RoleMatrixTests {
  /// What the shipped policy (`default-policy.yaml`) grants, restated so that a change to the
  /// policy must be a deliberate change to this table too. `svc.*` is every method of a service.
  static let grants: [String: [String]] = [
    "admin": [
      "vault.UpsertField", "vault.ListFields", "vault.RotateMasterKey", "vault.GetRecord", "vault.VerifyAccessLog",
      "consent.UpsertPurpose", "consent.ListPurposes", "consent.UpsertMailingList", "consent.ListMailingLists",
      "consent.VerifyLedger", "rights.UpsertRecipient", "rights.ListRecipients", "rights.UpsertRetentionPolicy",
      "rights.ListRetentionPolicies", "admin.GetBackendHealth",
    ],
    "dpo": [
      "rights.*", "admin.*", "blocklist.*", "vault.UpsertField", "vault.ListFields", "vault.GetRecord", "vault.FindByField",
      "vault.RevealField", "vault.ExportRecord", "vault.PutRecord", "vault.EraseFields", "vault.UnlockFields",
      "vault.ErasePersonalData", "vault.SetRestriction", "vault.SetHumanReview", "vault.ListAccessLog", "vault.VerifyAccessLog",
      "consent.UpsertPurpose", "consent.ListPurposes", "consent.RecordConsent", "consent.BulkUpdate", "consent.CheckConsent",
      "consent.GetConsentState", "consent.ListConsentEvents", "consent.ListSubjects", "consent.SetEmailOptInStatus",
      "consent.StartDoubleOptIn", "consent.CheckEmailEligibility", "consent.ListSubscriptions",
      "consent.SetProcessingRestriction", "consent.EraseSubject", "consent.WatchConsentEvents", "consent.VerifyLedger",
      "consent.CreatePreferenceLink", "consent.RevokePreferenceLinks", "consent.GetConsentReceipt", "consent.VerifyReceipt",
      "consent.GetReceiptKeys", "consent.SetSubjectAttributes",
    ],
    "support": [
      "vault.ListFields", "vault.GetRecord", "vault.FindByField", "vault.PutRecord", "consent.ListPurposes",
      "consent.CheckConsent", "consent.GetConsentState", "consent.ListConsentEvents", "consent.SetEmailOptInStatus",
      "consent.StartDoubleOptIn", "consent.CheckEmailEligibility", "consent.ListMailingLists", "consent.Subscribe",
      "consent.Unsubscribe", "consent.ListSubscriptions", "consent.RequestPreferenceChange", "rights.OpenRequest",
      "rights.StartVerification", "rights.GetRequest", "rights.ListRequests",
    ],
    "billing": [
      "vault.ListFields", "vault.GetRecord", "vault.FindByField", "vault.PutRecord", "vault.RevealField",
      "consent.ListPurposes", "consent.CheckConsent", "consent.GetConsentState", "rights.GetRequest", "rights.ListRequests",
    ],
    "marketing": [
      "consent.ListPurposes", "consent.CheckConsent", "consent.CheckEmailEligibility", "consent.GetConsentState",
      "consent.ListSubjects", "consent.UpsertMailingList", "consent.ListMailingLists", "consent.Subscribe",
      "consent.Unsubscribe", "consent.ListSubscriptions", "vault.ListFields", "vault.GetRecord", "consent.CheckConsentBatch",
      "vault.GetRecords",
    ],
    "service": [
      "consent.CheckConsent", "consent.RecordConsent", "consent.CheckEmailEligibility", "consent.ListPurposes",
      "consent.ConfirmDoubleOptIn", "consent.ConfirmPreferenceChange", "consent.ListOutbox", "consent.AckOutbox",
      "consent.LeaseOutbox", "consent.ReportOutboxFailure", "vault.PutRecord", "blocklist.Check", "rights.RecordEngagement",
      "rights.ListOutbox", "rights.AckOutbox", "rights.LeaseOutbox", "rights.ReportOutboxFailure",
      "admin.CreateContact", "consent.CreatePreferenceLink", "consent.GetConsentReceipt", "consent.SetSubjectAttributes",
      "consent.CheckConsentBatch",
    ],
    "auditor": [
      "admin.ListAudit", "admin.VerifyAudit", "admin.ListAuditCheckpoints", "admin.GetProcessingRecords", "admin.AssessBreach", "vault.ListAccessLog",
      "vault.VerifyAccessLog", "consent.VerifyLedger", "consent.VerifyReceipt", "consent.GetReceiptKeys",
    ],
    "delivery": ["rights.GetRequest", "rights.GetArtifact"],
  ]

  static let services: [String: [MethodDescriptor]] = [
    "vault": Privacy_Vault_V1_VaultService.Method.descriptors,
    "consent": Privacy_Consent_V1_ConsentService.Method.descriptors,
    "rights": Privacy_Rights_V1_SubjectRightsService.Method.descriptors,
    "blocklist": Privacy_Blocklist_V1_BlocklistService.Method.descriptors,
    "admin": Privacy_Gateway_V1_AdminService.Method.descriptors,
  ]

  /// The full method names a role may call (WhoAmI for everyone).
  static func granted(_ role: String) -> Set<String> {
    var names: Set<String> = [Privacy_Gateway_V1_AdminService.Method.WhoAmI.descriptor.fullyQualifiedMethod]
    for grant in grants[role]! {
      let parts = grant.split(separator: ".").map(String.init)
      for method in services[parts[0]]! where parts[1] == "*" || method.method == parts[1] {
        names.insert(method.fullyQualifiedMethod)
      }
    }
    return names
  }

  // MARK: The record every role looks at

  static let subject = "c-2001"
  /// The IP address in a consent's evidence.
  static let evidenceIP = "198.51.100.77"
  /// The clear values of the SENSITIVE fields: only a RevealField the role is granted may return one.
  static let sensitive = ["iban": "DE89370400440532013000", "diagnosis": "asthma bronchiale", "national_id": "AB123456C"]
  static let values = sensitive.merging(["segment": "gold", "name": "Ada Lovelace", "email": "ada@example.org"]) { a, _ in a }
  static let fields: [Privacy_Vault_V1_UpsertFieldRequest] = [
    .with { $0.name = "segment"; $0.classification = .none },
    .with { $0.name = "name"; $0.classification = .personal },
    .with { $0.name = "email"; $0.classification = .personal; $0.mask = .email; $0.searchable = true; $0.tags = ["email"] },
    .with { $0.name = "iban"; $0.classification = .sensitive; $0.mask = .last4; $0.tags = ["billing"] },
    .with { $0.name = "diagnosis"; $0.classification = .sensitive; $0.specialCategory = .health },
    .with { $0.name = "national_id"; $0.classification = .sensitive; $0.mask = .last4; $0.tags = ["national_id"] },
  ]

  /// How a field shows in a role's GetRecord (and FindByField) answer.
  enum Shown: Equatable, CustomStringConvertible {
    case clear, masked, withheld, missing
    var description: String { "\(self)" }
  }

  /// The field levels of the shipped policy, per role that may read records: segment, name,
  /// email, iban, diagnosis, national_id.
  static let recordView: [String: [Shown]] = [
    "admin": [.clear, .masked, .masked, .withheld, .withheld, .withheld],
    "dpo": [.clear, .clear, .clear, .masked, .masked, .masked],
    "support": [.clear, .clear, .clear, .masked, .masked, .masked],
    "billing": [.clear, .clear, .clear, .masked, .withheld, .masked],
    "marketing": [.clear, .clear, .clear, .withheld, .withheld, .withheld],
  ]
  static let fieldOrder = ["segment", "name", "email", "iban", "diagnosis", "national_id"]

  /// The fields whose clear value RevealField gives the role (REVEAL or CLEAR on them).
  static let revealable: [String: Set<String>] = [
    "dpo": Set(fieldOrder),
    "billing": ["segment", "name", "email", "iban"],
  ]

  /// A request that passes the gateway's own checks for the methods that look at a field; the
  /// rest get an empty message (the backend then refuses or answers; either way the gateway let it through).
  static func request(for method: MethodDescriptor) throws -> [UInt8] {
    switch method.method {
    case "GetRecord", "ExportRecord":
      return try Privacy_Vault_V1_GetRecordRequest.with { $0.subjectID = subject }.serializedBytes()
    case "GetRecords":
      return try Privacy_Vault_V1_GetRecordsRequest.with { $0.subjectIds = [subject] }.serializedBytes()
    case "FindByField":
      return try Privacy_Vault_V1_FindByFieldRequest.with { $0.field = "email"; $0.value = values["email"]! }.serializedBytes()
    case "RevealField":
      return try Privacy_Vault_V1_RevealFieldRequest.with {
        $0.subjectID = subject
        $0.field = "name"
        $0.reason = "role matrix"
      }.serializedBytes()
    default:
      return []
    }
  }

  @Test("every role × every method: granted calls pass the gateway, others are PERMISSION_DENIED; no clear sensitive value leaks")
  func matrix() async throws {
    try await RunningSuite.with { suite in try await RoleMatrixTests.run(suite) }
  }

  static func run(_ suite: RunningSuite) async throws {
    try await suite.asRole("dpo") { client async throws in
      let vault = Privacy_Vault_V1_VaultService.Client(wrapping: client)
      for field in RoleMatrixTests.fields { _ = try await vault.upsertField(field) }
      _ = try await vault.putRecord(.with {
        $0.subjectID = RoleMatrixTests.subject
        $0.values = RoleMatrixTests.values
        $0.source = .with { $0.channel = .webform }
      })
      // Consent evidence: only a role with CLEAR on it (the dpo) may ever receive the click's address.
      let consent = Privacy_Consent_V1_ConsentService.Client(wrapping: client)
      _ = try await consent.upsertPurpose(.with {
        $0.purpose = .with {
          $0.purposeID = "matrix"
          $0.title = "Matrix"
          $0.legalBasis = .consent
          $0.category = .emailMarketing
          $0.noticeVersion = "v1"
          $0.noticeText = "We send news."
        }
      })
      _ = try await consent.recordConsent(.with {
        $0.subjectID = RoleMatrixTests.subject
        $0.purposeID = "matrix"
        $0.decision = .granted
        $0.evidence = .with {
          $0.channel = .webform
          $0.ipAddress = RoleMatrixTests.evidenceIP
          $0.userAgent = "Mozilla/5.0 matrix"
        }
      })
    }

    /// Every response, to be searched for the clear sensitive values.
    var responses: [(role: String, method: String, field: String?, bytes: [UInt8])] = []

    for role in RunningSuite.roles {
      let granted = RoleMatrixTests.granted(role)
      try await suite.asRole(role) { client async throws in
        // Records, field by field.
        let get = await client.rawUnary(Privacy_Vault_V1_VaultService.Method.GetRecord.descriptor, try RoleMatrixTests.request(for: Privacy_Vault_V1_VaultService.Method.GetRecord.descriptor))
        if let expected = RoleMatrixTests.recordView[role] {
          let bytes = try get.get()
          responses.append((role, "GetRecord", nil, bytes))
          let answer = try Privacy_Vault_V1_GetRecordResponse(serializedBytes: bytes)
          let shown = RoleMatrixTests.fieldOrder.map { name -> Shown in
            guard let field = answer.record.fields.first(where: { $0.name == name }) else {
              return answer.withheldFields.contains(name) ? .withheld : .missing
            }
            return field.value == RoleMatrixTests.values[name] ? .clear : .masked
          }
          #expect(shown == expected, "GetRecord as \(role)")
        } else {
          #expect(get.failureCode == .permissionDenied, "GetRecord as \(role)")
        }
        for field in RoleMatrixTests.fieldOrder {
          let reveal = await client.rawUnary(
            Privacy_Vault_V1_VaultService.Method.RevealField.descriptor,
            try Privacy_Vault_V1_RevealFieldRequest.with {
              $0.subjectID = RoleMatrixTests.subject
              $0.field = field
              $0.reason = "role matrix"
            }.serializedBytes())
          if RoleMatrixTests.revealable[role, default: []].contains(field) {
            let bytes = try reveal.get()
            responses.append((role, "RevealField", field, bytes))
            #expect(try Privacy_Vault_V1_RevealFieldResponse(serializedBytes: bytes).value == RoleMatrixTests.values[field], "\(role) \(field)")
          } else {
            #expect(reveal.failureCode == .permissionDenied, "RevealField \(field) as \(role)")
          }
        }

        // Every method.
        for (_, methods) in RoleMatrixTests.services {
          for method in methods {
            let request = try RoleMatrixTests.request(for: method)
            // A granted feed stays open, so its window ends the call; a refusal comes at once, and
            // its window is long so that a loaded machine cannot turn a slow refusal into a pass.
            let window: Duration = granted.contains(method.fullyQualifiedMethod) ? .milliseconds(300) : .seconds(10)
            let outcome =
              method.method == "WatchConsentEvents"
              ? await client.rawStream(method, request, window: window)
              : await client.rawUnary(method, request)
            if case .success(let bytes) = outcome { responses.append((role, method.method, nil, bytes)) }
            try #require(suite.gateway.isRunning, "the gateway died on \(method) as \(role)")
            if granted.contains(method.fullyQualifiedMethod) {
              // Through to the backend: its answer or its refusal of the empty request, never the
              // gateway's refusal or a broken call.
              let passed: Set<RPCError.Code?> = [nil, .invalidArgument, .notFound, .failedPrecondition, .unimplemented]
              #expect(passed.contains(outcome.failureCode), "\(role) \(method): \(outcome)")
            } else {
              #expect(outcome.failureCode == .permissionDenied, "\(role) \(method): \(outcome)")
            }
          }
        }
      }
    }

    // A clear sensitive value is only ever in the answer to a RevealField the role was granted.
    for response in responses {
      for (field, value) in RoleMatrixTests.sensitive where response.bytes.contains(Array(value.utf8)) {
        let allowed = response.method == "RevealField" && response.field == field && RoleMatrixTests.revealable[response.role, default: []].contains(field)
        #expect(allowed, "clear \(field) reached \(response.role) in \(response.method)")
      }
      if response.bytes.contains(Array(RoleMatrixTests.evidenceIP.utf8)) {
        #expect(response.role == "dpo", "the click's IP address reached \(response.role) in \(response.method)")
      }
      // Admin never gets a clear personal name either (PERSONAL is MASKED for it).
      if response.role == "admin" { #expect(!response.bytes.contains(Array(RoleMatrixTests.values["name"]!.utf8)), "\(response.method)") }
    }
    #expect(responses.contains { $0.method == "RevealField" && $0.field == "iban" && $0.role == "billing" })
    #expect(responses.contains { $0.role == "dpo" && $0.bytes.contains(Array(RoleMatrixTests.evidenceIP.utf8)) })

    // A backend's refusal reaches the caller with its ErrorInfo reason, and the caller's
    // connection stays usable for the next call.
    try await suite.asRole("dpo") { client async throws in
      _ = try await Privacy_Vault_V1_VaultService.Client(wrapping: client).setRestriction(.with {
        $0.subjectID = RoleMatrixTests.subject
        $0.restricted = true
        $0.reason = "art 18 request"
      })
    }
    try await suite.asRole("support") { client async throws in
      for _ in 0..<3 {
        let error = await capturedRPCError {
          try await Privacy_Vault_V1_VaultService.Client(wrapping: client).putRecord(.with {
            $0.subjectID = RoleMatrixTests.subject
            $0.values = ["name": "Ada King"]
            $0.source = .with { $0.channel = .phone }
          })
        }
        #expect(error?.code == .failedPrecondition && error?.errorInfoReason == "RECORD_RESTRICTED", "\(String(describing: error))")
      }
    }
  }
}

extension Result where Failure == RPCError {
  var failureCode: RPCError.Code? {
    if case .failure(let error) = self { return error.code }
    return nil
  }
}
