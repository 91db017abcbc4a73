import Foundation
import GRPCCore
import PrivacyKit
import PrivacyProtocol

/// What a workflow runs with: the gateway's backends and the admitted call whose identity every
/// backend call carries. Each backend call is bounded by the backend timeout and by the
/// workflow's deadline, and a call failing with a retryable status is retried with backoff while
/// the deadline leaves time for another attempt.
struct WorkflowContext: Sendable {
  let gateway: Gateway
  let call: Gateway.Call

  var settings: GatewaySettings { gateway.settings }
  var actor: String { call.principal.actor }

  /// Calls a backend method, retrying UNAVAILABLE, RESOURCE_EXHAUSTED, ABORTED and (while time
  /// remains) DEADLINE_EXCEEDED with exponential backoff from 100 ms to 2 s.
  func send<M: BackendMethod>(_ method: M.Type, _ message: M.Input) async throws -> M.Output {
    var backoff = Backoff(ceiling: .seconds(2))
    while true {
      do {
        return try await gateway.backends[M.backend].unary(
          message, method: M.descriptor, metadata: call.backendMetadata, options: try options())
      } catch let error as RPCError where Self.isRetryable(error.code) {
        guard let deadline = call.deadline, ContinuousClock.now + backoff.delay + Self.answerReserve < deadline else { throw error }
        try await Task.sleep(for: backoff.next())
      }
    }
  }

  /// The same call, answering nil when the backend says NOT_FOUND.
  func sendIfFound<M: BackendMethod>(_ method: M.Type, _ message: M.Input) async throws -> M.Output? {
    do {
      return try await send(method, message)
    } catch let error as RPCError where error.code == .notFound {
      return nil
    }
  }

  /// Time kept back from retrying so that the failure can still be recorded in the step log and
  /// the answer reaches the caller before its deadline.
  static let answerReserve = Duration.milliseconds(500)

  static func isRetryable(_ code: RPCError.Code) -> Bool {
    [.unavailable, .deadlineExceeded, .resourceExhausted, .aborted].contains(code)
  }

  private func options() throws -> CallOptions {
    var options = CallOptions.defaults
    options.waitForReady = false
    var timeout = settings.backendTimeout
    if let deadline = call.deadline {
      let left = deadline - .now
      guard left > .zero else { throw RPCError(code: .deadlineExceeded, message: "the workflow's deadline passed between steps") }
      // A backend that hangs must not eat the time needed to record the failure and answer.
      timeout = min(timeout, left > Self.answerReserve * 2 ? left - Self.answerReserve : left)
    }
    options.timeout = timeout
    return options
  }
}

// MARK: Reads shared by several workflows

extension WorkflowContext {
  /// Every item of a paged list method, fetched a thousand at a time.
  func all<M: BackendMethod, Item>(
    _ method: M.Type, _ request: M.Input, _ items: KeyPath<M.Output, [Item]>
  ) async throws -> [Item] where M.Input: PagedListRequest, M.Output: PagedListResponse {
    var request = request
    request.pageSize = 1000
    var all: [Item] = []
    repeat {
      let page = try await send(method, request)
      all += page[keyPath: items]
      request.pageToken = page.nextPageToken
    } while !request.pageToken.isEmpty
    return all
  }

  /// Every field definition of the vault, by name.
  func vaultFields() async throws -> [String: Privacy_Vault_V1_FieldDefinition] {
    let fields = try await all(VaultMethod.ListFields.self, .init(), \.fields)
    return Dictionary(fields.map { ($0.name, $0) }) { _, last in last }
  }

  /// Every purpose of the consent service, by id.
  func purposes() async throws -> [String: Privacy_Consent_V1_Purpose] {
    let purposes = try await all(ConsentMethod.ListPurposes.self, .init(), \.purposes)
    return Dictionary(purposes.map { ($0.purposeID, $0) }) { _, last in last }
  }

  /// Every recipient, or those receiving `purposeID`.
  func recipients(purposeID: String = "") async throws -> [Privacy_Rights_V1_Recipient] {
    try await all(RightsMethod.ListRecipients.self, .with { $0.purposeID = purposeID }, \.recipients)
  }

  /// Every ledger event of a subject, in sequence order.
  func consentEvents(subjectID: String, purposeID: String = "") async throws -> [Privacy_Consent_V1_ConsentEvent] {
    try await all(ConsentMethod.ListConsentEvents.self, .with {
      $0.subjectID = subjectID
      $0.purposeID = purposeID
    }, \.events)
  }

  /// Every request matching `filter`.
  func requests(_ filter: Privacy_Rights_V1_RequestFilter) async throws -> [Privacy_Rights_V1_DataSubjectRequest] {
    try await all(RightsMethod.ListRequests.self, .with { $0.filter = filter }, \.requests)
  }

  /// The subject's consent state, or nil when the ledger holds nothing about the subject.
  func consentState(subjectID: String) async throws -> Privacy_Consent_V1_SubjectState? {
    try await sendIfFound(ConsentMethod.GetConsentState.self, .with { $0.subjectID = subjectID })?.state
  }
}

/// A list request paged the AIP-158 way.
protocol PagedListRequest {
  var pageSize: Int32 { get set }
  var pageToken: String { get set }
}

/// A page of a list response.
protocol PagedListResponse {
  var nextPageToken: String { get }
}

extension Privacy_Vault_V1_ListFieldsRequest: PagedListRequest {}
extension Privacy_Vault_V1_ListFieldsResponse: PagedListResponse {}
extension Privacy_Consent_V1_ListPurposesRequest: PagedListRequest {}
extension Privacy_Consent_V1_ListPurposesResponse: PagedListResponse {}
extension Privacy_Consent_V1_ListMailingListsRequest: PagedListRequest {}
extension Privacy_Consent_V1_ListMailingListsResponse: PagedListResponse {}
extension Privacy_Consent_V1_ListConsentEventsRequest: PagedListRequest {}
extension Privacy_Consent_V1_ListConsentEventsResponse: PagedListResponse {}
extension Privacy_Rights_V1_ListRecipientsRequest: PagedListRequest {}
extension Privacy_Rights_V1_ListRecipientsResponse: PagedListResponse {}
extension Privacy_Rights_V1_ListRequestsRequest: PagedListRequest {}
extension Privacy_Rights_V1_ListRequestsResponse: PagedListResponse {}
extension Privacy_Rights_V1_ListDueForRetentionRequest: PagedListRequest {}
extension Privacy_Rights_V1_ListDueForRetentionResponse: PagedListResponse {}
extension Privacy_Vault_V1_ListAccessLogRequest: PagedListRequest {}
extension Privacy_Vault_V1_ListAccessLogResponse: PagedListResponse {}
