import Foundation
import GRPCCore
import PrivacyKit
import PrivacyProtocol

/// What the page shows of one subject, read through the gateway under the link's token: the
/// purposes the subject is asked about (`ask_when`) and those they already decided.
struct SubjectPreferences: Sendable {
  var subjectID: String
  /// Every purpose, ordered by id.
  var purposes: [Privacy_Consent_V1_Purpose]
  /// The subject's state per purpose id.
  var decisions: [String: Privacy_Consent_V1_PurposeState]
  var optInStatus: Privacy_Consent_V1_OptInStatus
  var restricted: Bool
  var lists: [Privacy_Consent_V1_MailingList]
  /// Whether the subject is on each list, by list id.
  var subscribed: [String: Bool]
  /// The subject's data-subject requests, most urgent first.
  var requests: [Privacy_Rights_V1_DataSubjectRequest]

  private typealias Consent = Privacy_Consent_V1_ConsentService.Method

  /// Reads everything the page shows; the gateway refuses a token that opens no page
  /// (NOT_FOUND, `PREFERENCE_LINK_INVALID`).
  static func read(token: String, through gateway: GatewayConnection) async throws -> SubjectPreferences {
    let subjectID = try await gateway.subject(ofLink: token)
    async let purposes = all(token: token, through: gateway, Consent.ListPurposes.descriptor) {
      (page: Privacy_Consent_V1_ListPurposesResponse) in (page.purposes, page.nextPageToken)
    } request: { (next: String) in Privacy_Consent_V1_ListPurposesRequest.with { $0.pageSize = 1000; $0.pageToken = next } }
    async let lists = all(token: token, through: gateway, Consent.ListMailingLists.descriptor) {
      (page: Privacy_Consent_V1_ListMailingListsResponse) in (page.lists, page.nextPageToken)
    } request: { (next: String) in Privacy_Consent_V1_ListMailingListsRequest.with { $0.pageSize = 1000; $0.pageToken = next } }
    async let state = consentState(subjectID, token: token, through: gateway)
    async let subscriptions: Privacy_Consent_V1_ListSubscriptionsResponse = gateway.call(
      Consent.ListSubscriptions.descriptor, Privacy_Consent_V1_ListSubscriptionsRequest.with { $0.subjectID = subjectID }, as: .link(token))
    async let requests: Privacy_Rights_V1_ListRequestsResponse = gateway.call(
      Privacy_Rights_V1_SubjectRightsService.Method.ListRequests.descriptor,
      Privacy_Rights_V1_ListRequestsRequest.with {
        $0.filter = .with { $0.subjectID = subjectID }
        $0.pageSize = Self.requestsShown
      }, as: .link(token))
    let answer = try await state
    let subject = answer?.state ?? Privacy_Consent_V1_SubjectState.with { $0.subjectID = subjectID; $0.optInStatus = .none }
    let decisions = Dictionary(subject.purposes.map { ($0.purposeID, $0) }, uniquingKeysWith: { _, last in last })
    let all = try await purposes
    // A subject the ledger does not know yet (no decision, no attributes) is asked what has no condition.
    let asked = answer.map { Set($0.purposesToAsk) } ?? Set(all.filter { $0.askWhen.isEmpty }.map(\.purposeID))
    let shown = all.filter { asked.contains($0.purposeID) || (decisions[$0.purposeID]?.decision ?? .unspecified) != .unspecified }
    return SubjectPreferences(
      subjectID: subjectID, purposes: shown.sorted { $0.purposeID < $1.purposeID }, decisions: decisions,
      optInStatus: subject.optInStatus, restricted: subject.restricted, lists: try await lists.sorted { $0.listID < $1.listID },
      subscribed: Dictionary(try await subscriptions.subscriptions.map { ($0.listID, $0.subscribed) }, uniquingKeysWith: { _, last in last }),
      requests: try await requests.requests)
  }

  /// At most this many requests are listed (the most urgent first).
  static let requestsShown: Int32 = 50

  /// The subject's state; nil when the ledger holds nothing about them yet (a link minted for a
  /// contact who never decided anything).
  private static func consentState(
    _ subjectID: String, token: String, through gateway: GatewayConnection
  ) async throws -> Privacy_Consent_V1_GetConsentStateResponse? {
    do {
      return try await gateway.call(
        Consent.GetConsentState.descriptor, Privacy_Consent_V1_GetConsentStateRequest.with { $0.subjectID = subjectID }, as: .link(token))
    } catch let error as RPCError where error.code == .notFound && error.errorInfoReason == nil {
      return nil
    }
  }

  /// Every item of a paged list method.
  private static func all<Request: SwiftProtobufMessage, Response: SwiftProtobufMessage, Item>(
    token: String, through gateway: GatewayConnection, _ method: MethodDescriptor, items: (Response) -> ([Item], String),
    request: (String) -> Request
  ) async throws -> [Item] {
    var all: [Item] = []
    var next = ""
    repeat {
      let page: Response = try await gateway.call(method, request(next), as: .link(token))
      let (found, following) = items(page)
      all += found
      next = following
    } while !next.isEmpty && all.count < 100_000
    return all
  }
}
