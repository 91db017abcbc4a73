import Foundation
import GRPCCore
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

  private typealias Consent = Privacy_Consent_V1_ConsentService.Method

  /// Reads everything the page shows; the gateway refuses a token that opens no page
  /// (NOT_FOUND, `PREFERENCE_LINK_INVALID`).
  static func read(token: String, through gateway: GatewayConnection) async throws -> SubjectPreferences {
    let link: Privacy_Consent_V1_ResolvePreferenceLinkResponse = try await gateway.call(
      Consent.ResolvePreferenceLink.descriptor, Privacy_Consent_V1_ResolvePreferenceLinkRequest.with { $0.token = token }, as: .link(token))
    let subjectID = link.subjectID
    async let purposes = all(token: token, through: gateway, Consent.ListPurposes.descriptor) {
      (page: Privacy_Consent_V1_ListPurposesResponse) in (page.purposes, page.nextPageToken)
    } request: { (next: String) in Privacy_Consent_V1_ListPurposesRequest.with { $0.pageSize = 1000; $0.pageToken = next } }
    async let lists = all(token: token, through: gateway, Consent.ListMailingLists.descriptor) {
      (page: Privacy_Consent_V1_ListMailingListsResponse) in (page.lists, page.nextPageToken)
    } request: { (next: String) in Privacy_Consent_V1_ListMailingListsRequest.with { $0.pageSize = 1000; $0.pageToken = next } }
    async let state: Privacy_Consent_V1_GetConsentStateResponse = gateway.call(
      Consent.GetConsentState.descriptor, Privacy_Consent_V1_GetConsentStateRequest.with { $0.subjectID = subjectID }, as: .link(token))
    async let subscriptions: Privacy_Consent_V1_ListSubscriptionsResponse = gateway.call(
      Consent.ListSubscriptions.descriptor, Privacy_Consent_V1_ListSubscriptionsRequest.with { $0.subjectID = subjectID }, as: .link(token))
    let answer = try await state
    let subject = answer.state
    let decisions = Dictionary(subject.purposes.map { ($0.purposeID, $0) }, uniquingKeysWith: { _, last in last })
    let asked = Set(answer.purposesToAsk)
    let shown = try await purposes.filter { asked.contains($0.purposeID) || (decisions[$0.purposeID]?.decision ?? .unspecified) != .unspecified }
    return SubjectPreferences(
      subjectID: subjectID, purposes: shown.sorted { $0.purposeID < $1.purposeID }, decisions: decisions,
      optInStatus: subject.optInStatus, restricted: subject.restricted, lists: try await lists.sorted { $0.listID < $1.listID },
      subscribed: Dictionary(try await subscriptions.subscriptions.map { ($0.listID, $0.subscribed) }, uniquingKeysWith: { _, last in last }))
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
