import Foundation
import PrivacyProtocol
import SwiftProtobuf

// What the templates render. Plain values only: the templates hold no logic, and every string
// is escaped by Mustache.

/// What every page has: its language, title, strings and the language switch.
struct PageFrame {
  let language: String
  let title: String
  let t: [String: String]
  let languages: [LanguageLink]

  /// The language switch links to the same page (`?lang=<code>`), so that a page holds no more
  /// of its URL than it must: the neutral page is the same whatever link led to it.
  init(language: String, titleKey: String, catalogue: Catalogue) {
    self.language = language
    t = catalogue.texts(language)
    title = t[titleKey] ?? titleKey
    languages = Catalogue.languages.map { code in
      LanguageLink(code: code, name: catalogue.texts(code)["language_name"] ?? code, current: code == language, href: "?lang=\(code)")
    }
  }
}

struct LanguageLink {
  let code: String
  let name: String
  let current: Bool
  let href: String
}

/// A page that says one thing, optionally with one button (a form of hidden fields).
struct MessageView {
  let language: String
  let title: String
  let t: [String: String]
  let languages: [LanguageLink]
  let text: String
  let form: FormView?
  let back: String?

  init(_ frame: PageFrame, textKey: String, form: FormView? = nil, back: String? = nil) {
    language = frame.language
    title = frame.title
    t = frame.t
    languages = frame.languages
    text = frame.t[textKey] ?? textKey
    self.form = form
    self.back = back
  }
}

struct FormView {
  let action: String
  let fields: [HiddenField]
  let button: String
}

struct HiddenField {
  let name: String
  let value: String
}

/// The preference page.
struct PreferencePageView {
  let language: String
  let title: String
  let t: [String: String]
  let languages: [LanguageLink]
  let statement: String
  let changesAction: String
  let unsubscribeAction: String
  let restrictionAction: String
  let requestsAction: String
  let csrf: FormTokens
  let optInText: String
  let emailPurposes: [PurposeView]
  let lists: [ListView]
  let policies: [PolicyView]
  let groups: [GroupView]
  let restrictionText: String
  /// What the restriction button asks for: the opposite of the current state.
  let restrictionAsked: String
  let restrictionButton: String
  let requests: [RequestView]
  /// Stored, not computed: templates see stored properties only.
  let hasRequests: Bool

  init(
    _ frame: PageFrame, preferences: SubjectPreferences, statement: String?, token: String, csrf: FormTokens, gpc: Bool
  ) {
    language = frame.language
    title = frame.title
    t = frame.t
    languages = frame.languages
    self.statement = statement ?? t["statement_default"] ?? ""
    changesAction = "/p/\(token)/changes"
    unsubscribeAction = "/u/\(token)"
    restrictionAction = "/p/\(token)/restriction"
    requestsAction = "/p/\(token)/requests"
    self.csrf = csrf
    let texts = frame.t
    optInText = texts["optin_\(Self.optInKey(preferences.optInStatus))"] ?? ""
    let views = preferences.purposes.map {
      PurposeView($0, state: preferences.decisions[$0.purposeID], gpc: gpc, t: texts, receipts: "/p/\(token)/receipts/")
    }
    emailPurposes = zip(preferences.purposes, views).filter { $0.0.category == .emailMarketing }.map(\.1)
    groups = Self.groupOrder.compactMap { category -> GroupView? in
      let members = zip(preferences.purposes, views).filter { $0.0.category == category }.map(\.1)
      guard !members.isEmpty else { return nil }
      return GroupView(heading: texts["group_\(Self.categoryKey(category))"] ?? "", purposes: members)
    }
    lists = preferences.lists.map { list in
      ListView(
        id: list.listID, name: list.name, description: list.description_p.isEmpty ? nil : list.description_p,
        subscribed: preferences.subscribed[list.listID] ?? list.defaultSubscribed)
    }
    policies = preferences.purposes.compactMap { purpose in
      guard let state = preferences.decisions[purpose.purposeID], state.decision == .granted, state.legalBasis == .consent else { return nil }
      return PolicyView(purpose, state: state, t: texts)
    }
    restrictionText = texts[preferences.restricted ? "restricted" : "not_restricted"] ?? ""
    restrictionAsked = preferences.restricted ? "false" : "true"
    restrictionButton = texts[preferences.restricted ? "resume_processing" : "stop_processing"] ?? ""
    requests = preferences.requests.map { RequestView($0, t: texts) }
    hasRequests = !requests.isEmpty
  }

  /// The groups of section 4, in the order the page shows them (email marketing is in section 2).
  static let groupOrder: [Privacy_Consent_V1_PurposeCategory] = [
    .dataStorage, .engagementTracking, .thirdPartySharing, .automatedDecisions, .custom,
  ]

  static func categoryKey(_ category: Privacy_Consent_V1_PurposeCategory) -> String {
    switch category {
    case .dataStorage: "data_storage"
    case .emailMarketing: "email_marketing"
    case .engagementTracking: "engagement_tracking"
    case .thirdPartySharing: "third_party_sharing"
    case .automatedDecisions: "automated_decisions"
    default: "custom"
    }
  }

  static func optInKey(_ status: Privacy_Consent_V1_OptInStatus) -> String {
    switch status {
    case .singleOptInUser: "single_opt_in_user"
    case .singleOptInWebform: "single_opt_in_webform"
    case .doubleOptIn: "double_opt_in"
    case .optOutUser: "opt_out_user"
    case .optOutContact: "opt_out_contact"
    default: "none"
    }
  }

  static func basisKey(_ basis: Privacy_Consent_V1_LegalBasis) -> String {
    switch basis {
    case .contract: "contract"
    case .legalObligation: "legal_obligation"
    case .vitalInterests: "vital_interests"
    case .publicTask: "public_task"
    case .legitimateInterests: "legitimate_interests"
    default: "consent"
    }
  }
}

struct GroupView {
  let heading: String
  let purposes: [PurposeView]
}

struct ListView {
  let id: String
  let name: String
  let description: String?
  let subscribed: Bool
}

/// One purpose: what it is, its basis in words, and the box the subject may tick, if any.
struct PurposeView {
  let id: String
  let title: String
  let description: String?
  let fields: String?
  let basisText: String
  let control: ControlView?
  let note: String?
  /// Where the signed receipt of the latest decision downloads; nil before any decision.
  let receiptHref: String?
  let receiptLabel: String

  /// `receipts`: the path receipts download under (`/p/<token>/receipts/`).
  init(_ purpose: Privacy_Consent_V1_Purpose, state: Privacy_Consent_V1_PurposeState?, gpc: Bool, t: [String: String], receipts: String) {
    receiptHref = state.flatMap { $0.eventSequence > 0 ? "\(receipts)\($0.eventSequence)" : nil }
    receiptLabel = t["download_receipt"] ?? ""
    id = purpose.purposeID
    title = purpose.title
    description = purpose.description_p.isEmpty ? nil : purpose.description_p
    fields =
      purpose.vaultFields.isEmpty ? nil : t["fields_covered"]?.replacingOccurrences(of: "{{fields}}", with: purpose.vaultFields.joined(separator: ", "))
    let basis = state.map { $0.legalBasis == .unspecified ? purpose.legalBasis : $0.legalBasis } ?? purpose.legalBasis
    basisText = t["basis_\(PreferencePageView.basisKey(basis))"] ?? ""
    let signalled = gpc && PurposeChoice.gpcCategories.contains(purpose.category)
    switch PurposeChoice(purpose: purpose, state: state, gpc: gpc) {
    case .consent(let given):
      control = ControlView(label: t["i_agree"] ?? "", checked: given)
      note = signalled ? t["gpc_objected"] : nil
    case .objection where state?.decision == .denied:
      control = nil
      note = t["objected"]
    case .objection(let objected):
      control = ControlView(label: t["i_object"] ?? "", checked: objected)
      note = signalled ? t["gpc_objected"] : nil
    case .none:
      control = nil
      note = nil
    }
  }
}

struct ControlView {
  let label: String
  let checked: Bool
}

/// A privacy notice the subject accepted, and the current one when it is newer.
struct PolicyView {
  let id: String
  let title: String
  let accepted: String
  let currentVersion: String
  let text: String
  let canAccept: Bool
  let acceptLabel: String

  init(_ purpose: Privacy_Consent_V1_Purpose, state: Privacy_Consent_V1_PurposeState, t: [String: String]) {
    id = purpose.purposeID
    title = purpose.title
    let date = state.hasDecidedAt ? String(state.decidedAt.date.ISO8601Format().prefix(10)) : "-"
    accepted = (t["accepted_version"] ?? "").replacingOccurrences(of: "{{version}}", with: state.noticeVersion)
      .replacingOccurrences(of: "{{date}}", with: date)
    currentVersion = (t["current_version"] ?? "").replacingOccurrences(of: "{{version}}", with: purpose.noticeVersion)
    text = purpose.noticeText
    canAccept = state.noticeVersion != purpose.noticeVersion
    acceptLabel = t["accept_new_version"] ?? ""
  }
}

/// One of the subject's data-subject requests: the right, where it stands, and its legal deadline.
struct RequestView {
  let id: String
  let right: String
  let status: String
  let received: String
  /// The deadline while the request is open, or when it was closed.
  let deadline: String
  /// Where the bundle of a completed access or portability request stands: its one-time link
  /// mailed, used, or expired; nil when there is none.
  let download: String?

  init(_ request: Privacy_Rights_V1_DataSubjectRequest, t: [String: String]) {
    id = request.requestID
    right = t["right_\(Self.rightKey(request.right))"] ?? ""
    status = t["status_\(Self.statusKey(request.status))"] ?? ""
    received = Self.day(request.receivedAt)
    let closed = [.completed, .rejected].contains(request.status)
    deadline = (t[closed ? "closed_on" : "due_by"] ?? "")
      .replacingOccurrences(of: "{{date}}", with: Self.day(closed ? request.closedAt : request.dueAt))
    let artifact = request.artifact
    if !request.hasArtifact || artifact.purged || !artifact.hasDownloadExpiresAt {
      download = nil
    } else {
      let (key, date) =
        artifact.hasDownloadedAt
        ? ("download_used", artifact.downloadedAt)
        : artifact.downloadExpiresAt.date <= Date() ? ("download_expired", artifact.downloadExpiresAt) : ("download_mailed", artifact.downloadExpiresAt)
      download = t[key]?.replacingOccurrences(of: "{{date}}", with: Self.day(date))
    }
  }

  static func day(_ timestamp: Google_Protobuf_Timestamp) -> String {
    String(timestamp.date.ISO8601Format().prefix(10))
  }

  static func rightKey(_ right: Privacy_Rights_V1_Right) -> String {
    switch right {
    case .access: "access"
    case .rectification: "rectification"
    case .erasure: "erasure"
    case .restriction: "restriction"
    case .notification: "notification"
    case .portability: "portability"
    case .objection: "objection"
    case .automatedDecision: "automated_decision"
    default: "other"
    }
  }

  static func statusKey(_ status: Privacy_Rights_V1_RequestStatus) -> String {
    switch status {
    case .received: "received"
    case .verifying: "verifying"
    case .verified: "verified"
    case .inProgress: "in_progress"
    case .completed: "completed"
    case .rejected: "rejected"
    default: "received"
    }
  }
}
