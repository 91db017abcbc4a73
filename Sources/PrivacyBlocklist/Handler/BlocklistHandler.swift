import Foundation
import GRPCCore
import PrivacyKit
import PrivacyProtocol

/// The gRPC edge of the blocklist service: checks and converts each request, calls the core,
/// converts the answer. Never logs or echoes an identifier value.
struct BlocklistHandler: Privacy_Blocklist_V1_BlocklistService.ServiceProtocol {
  let blocklist: Blocklist
  /// On PostgreSQL: what keeps memory in step with the other replicas; checks are refused when
  /// it has fallen behind.
  let replica: ReplicaFollower?

  private func caller<T>(_ request: ServerRequest<T>) -> CallerIdentity {
    CallerIdentity(metadata: request.metadata)
  }

  func add(
    request: ServerRequest<Privacy_Blocklist_V1_AddRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Blocklist_V1_AddResponse> {
    let message = request.message
    let identifiers = try blocklist.normalize(try identifierList(message.identifiers))
    let reason = try Validate.reason(message.reason)
    let requestID = try requestIDField(message.requestID, field: "request_id")
    let result = try await blocklist.add(identifiers, reason: reason, requestID: requestID, caller: caller(request))
    return ServerResponse(message: .with {
      $0.addedCount = UInt32(result.added)
      $0.alreadyPresentCount = UInt32(result.alreadyPresent)
    })
  }

  func check(
    request: ServerRequest<Privacy_Blocklist_V1_CheckRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Blocklist_V1_CheckResponse> {
    ServerResponse(message: try check(request.message))
  }

  /// Answered from memory: the nghttp2 transport runs it on its event loop (`synchronousMethods`).
  func check(_ message: Privacy_Blocklist_V1_CheckRequest) throws -> Privacy_Blocklist_V1_CheckResponse {
    let identifiers = try blocklist.normalize(try identifierList(message.identifiers))
    try replica?.requireFresh()
    let answers = blocklist.check(identifiers)
    return .with {
      $0.matches = zip(identifiers, answers).enumerated().map { index, pair in
        let (identifier, entry) = pair
        return .with {
          $0.index = UInt32(index)
          $0.kind = identifier.kind.proto
          if let entry {
            $0.matched = true
            $0.entryID = entry.id
            $0.reason = entry.reason
            $0.addedAt = entry.addedAt.protoTimestamp
            $0.requestID = entry.requestID
          }
        }
      }
      $0.anyMatched = answers.contains { $0 != nil }
    }
  }

  /// The methods that answer from memory at once.
  var synchronousMethods: [SynchronousMethod] {
    [SynchronousMethod(Privacy_Blocklist_V1_BlocklistService.Method.Check.descriptor) { try self.check($0) }]
  }

  func remove(
    request: ServerRequest<Privacy_Blocklist_V1_RemoveRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Blocklist_V1_RemoveResponse> {
    let message = request.message
    let identifiers = try blocklist.normalize(try identifierList(message.identifiers))
    let reason = try Validate.reason(message.reason)
    let result = try await blocklist.remove(identifiers, reason: reason, caller: caller(request))
    return ServerResponse(message: .with {
      $0.removedCount = UInt32(result.removed)
      $0.notPresentCount = UInt32(result.notPresent)
    })
  }

  func list(
    request: ServerRequest<Privacy_Blocklist_V1_ListRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Blocklist_V1_ListResponse> {
    let message = request.message
    let filter = try EntryFilter(message.filter)
    let scope = "entries|" + filter.scopeKey
    let page = try PageRequest(size: message.pageSize, token: message.pageToken, scope: scope)
    var cursor: EntryCursor?
    if let text = page.cursor {
      guard let parsed = EntryCursor(text) else { throw InvalidArgument("page_token is not valid for this request") }
      cursor = parsed
    }
    let entries = try await blocklist.list(filter, after: cursor, limit: page.fetchLimit)
    let (items, next) = page.page(of: entries) { EntryCursor(addedAt: Microseconds($0.addedAt), entryID: $0.id).text }
    return ServerResponse(message: .with {
      $0.entries = items.map(\.proto)
      $0.nextPageToken = next
    })
  }
}
