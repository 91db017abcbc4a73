import Foundation
import GRPCCore
import NIOPosix
import PrivacyKit
import PrivacyProtocol

/// The gRPC edge of the vault: checks and converts each request, calls the vault with the
/// caller's identity from metadata, converts the answer. Rules live in the vault and the
/// domain, not here.
struct VaultHandler: Privacy_Vault_V1_VaultService.ServiceProtocol {
  let vault: Vault

  private func caller<T>(_ request: ServerRequest<T>) -> CallerIdentity {
    CallerIdentity(metadata: request.metadata)
  }

  private static func page(_ size: Int32, _ token: String, scope: String) throws(InvalidArgument) -> PageRequest {
    try PageRequest(size: size, token: token, scope: scope)
  }

  /// An optional reason of at most 500 characters.
  private static func optionalReason(_ text: String) throws(InvalidArgument) -> String {
    try Validate.optionalText(text, field: "reason", maxLength: 500)
  }

  /// A non-empty list of field names, each well-formed.
  private static func fieldNames(_ names: [String]) throws(InvalidArgument) -> [String] {
    guard !names.isEmpty else { throw InvalidArgument("fields must name at least one field") }
    var checked: [String] = []
    for name in names { checked.append(try Validate.fieldName(name, field: "fields")) }
    return checked
  }

  // MARK: Field schema

  func upsertField(
    request: ServerRequest<Privacy_Vault_V1_UpsertFieldRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Vault_V1_UpsertFieldResponse> {
    let draft = try FieldDraft(request.message)
    let result = try await vault.upsertField(draft, caller: caller(request))
    return ServerResponse(message: .with {
      $0.field = result.field.proto
      $0.created = result.created
    })
  }

  func listFields(
    request: ServerRequest<Privacy_Vault_V1_ListFieldsRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Vault_V1_ListFieldsResponse> {
    let message = request.message
    let tag = message.tag.isEmpty ? nil : try Validate.fieldName(message.tag, field: "tag")
    let scope = "fields|\(tag ?? "")"
    let page = try Self.page(message.pageSize, message.pageToken, scope: scope)
    let result = vault.listFields(tag: tag, page: page)
    return ServerResponse(message: .with {
      $0.fields = result.fields.map(\.proto)
      $0.nextPageToken = result.nextCursor.map { PageRequest.token(cursor: $0, scope: scope) } ?? ""
      $0.activeKeyID = vault.keyIDs.active
      $0.keyIds = vault.keyIDs.all
    })
  }

  // MARK: Records

  func putRecord(
    request: ServerRequest<Privacy_Vault_V1_PutRecordRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Vault_V1_PutRecordResponse> {
    let message = request.message
    let subjectID = try Validate.subjectID(message.subjectID)
    for (name, value) in message.values.sorted(by: { $0.key < $1.key }) {
      _ = try Validate.fieldName(name, field: "values")
      guard value.utf8.count <= maximumValueBytes else {
        throw InvalidArgument("values[\(name)] is over \(maximumValueBytes) bytes")
      }
    }
    guard message.hasSource else { throw InvalidArgument("source.channel is required") }
    let source = try ValueSource(message.source, now: vault.now())
    let outcome = try await vault.putRecord(
      subjectID: subjectID, values: message.values, source: source, updateOnly: message.updateOnly, pending: message.pending,
      caller: caller(request))
    return ServerResponse(message: .with {
      $0.version = outcome.version
      $0.created = outcome.created
      $0.changedFields = outcome.changedFields
      $0.pending = outcome.pending
    })
  }

  func getRecord(
    request: ServerRequest<Privacy_Vault_V1_GetRecordRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Vault_V1_GetRecordResponse> {
    let view = try await vault.record(subjectID: try Validate.subjectID(request.message.subjectID))
    return ServerResponse(message: Self.getRecordResponse(view))
  }

  private static func getRecordResponse(_ view: RecordView) -> Privacy_Vault_V1_GetRecordResponse {
    .with { $0.record = view.proto }
  }

  /// GetRecord without a task when the store reads on the calling thread (SQLite): the nghttp2
  /// transport decodes the request on its event loop, the record is read and opened on a thread
  /// of NIO's blocking pool (one a core, so a read waiting for the disk never holds an event loop
  /// and the calls of one connection, the gateway's, use every core), and the answer goes back to
  /// the connection from there. Other stores, and the grpc-swift-nio transport, use `getRecord`
  /// above.
  var synchronousMethods: [SynchronousMethod] {
    guard let read = vault.blockingRecordReader else { return [] }
    return [
      SynchronousMethod(Privacy_Vault_V1_VaultService.Method.GetRecord.descriptor) {
        (request: Privacy_Vault_V1_GetRecordRequest, _, reply: SynchronousReply<Privacy_Vault_V1_GetRecordResponse>) in
        let subjectID: String
        do {
          subjectID = try Validate.subjectID(request.subjectID)
        } catch {
          return reply.fail(error)
        }
        // The shared pool is never shut down, so every item runs (`.active`).
        NIOThreadPool.singleton.submit { _ in
          do {
            reply.succeed(Self.getRecordResponse(try read(subjectID)))
          } catch {
            reply.fail(error)
          }
        }
      }
    ]
  }

  /// Most subjects one GetRecords may ask for.
  static let maximumBatchSubjects = 100

  func getRecords(
    request: ServerRequest<Privacy_Vault_V1_GetRecordsRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Vault_V1_GetRecordsResponse> {
    let subjectIDs = try Validate.batch(request.message.subjectIds, field: "subject_ids", maximum: Self.maximumBatchSubjects) {
      subjectID throws(InvalidArgument) in try Validate.subjectID(subjectID)
    }
    let views = try await vault.records(subjectIDs: subjectIDs)
    return ServerResponse(message: .with {
      $0.results = zip(subjectIDs, views).map { subjectID, view in
        .with {
          $0.subjectID = subjectID
          if let view { $0.record = view.proto }
        }
      }
    })
  }

  func revealField(
    request: ServerRequest<Privacy_Vault_V1_RevealFieldRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Vault_V1_RevealFieldResponse> {
    let message = request.message
    let subjectID = try Validate.subjectID(message.subjectID)
    let field = try Validate.fieldName(message.field, field: "field")
    let reason = try Validate.reason(message.reason)
    let result = try await vault.reveal(subjectID: subjectID, field: field, reason: reason, caller: caller(request))
    return ServerResponse(message: .with {
      $0.value = result.value
      $0.accessLogSequence = result.entry.sequence
      $0.revealedAt = result.entry.occurredAt.protoTimestamp
    })
  }

  func exportRecord(
    request: ServerRequest<Privacy_Vault_V1_ExportRecordRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Vault_V1_ExportRecordResponse> {
    let subjectID = try Validate.subjectID(request.message.subjectID)
    let reason = try Self.optionalReason(request.message.reason)
    let result = try await vault.export(subjectID: subjectID, reason: reason, caller: caller(request))
    return ServerResponse(message: .with {
      $0.record = result.record.proto
      $0.exportedAt = result.at.protoTimestamp
    })
  }

  func findByField(
    request: ServerRequest<Privacy_Vault_V1_FindByFieldRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Vault_V1_FindByFieldResponse> {
    let message = request.message
    let field = try Validate.fieldName(message.field, field: "field")
    guard !message.value.trimmingWhitespace.isEmpty else { throw InvalidArgument("value is required") }
    guard message.value.utf8.count <= maximumValueBytes else { throw InvalidArgument("value is over \(maximumValueBytes) bytes") }
    // The scope binds the token to the field and (through a digest, never in clear) the value.
    let scope = "find|\(field)|\(vault.searchDigest(field: field, value: message.value))"
    let page = try Self.page(message.pageSize, message.pageToken, scope: scope)
    let result = try await vault.find(field: field, value: message.value, page: page)
    return ServerResponse(message: .with {
      $0.records = result.records.map(\.proto)
      $0.nextPageToken = result.nextCursor.map { PageRequest.token(cursor: $0, scope: scope) } ?? ""
    })
  }

  // MARK: Access log

  func listAccessLog(
    request: ServerRequest<Privacy_Vault_V1_ListAccessLogRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Vault_V1_ListAccessLogResponse> {
    let message = request.message
    var query = try AccessLogQuery(message)
    let scope = "access-log|\(query.scopeKey)"
    let page = try Self.page(message.pageSize, message.pageToken, scope: scope)
    query.after = try page.numericCursor(UInt64.self) ?? 0
    query.limit = page.fetchLimit
    let entries = try await vault.accessLog(query)
    let (items, next) = page.page(of: entries) { String($0.sequence) }
    return ServerResponse(message: .with {
      $0.entries = items.map(\.proto)
      $0.nextPageToken = next
    })
  }

  func verifyAccessLog(
    request: ServerRequest<Privacy_Vault_V1_VerifyAccessLogRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Vault_V1_VerifyAccessLogResponse> {
    let result = try await vault.verifyAccessLog()
    return ServerResponse(message: .with { $0.verification = result.proto })
  }

  // MARK: Erasure, locks, flags

  func eraseFields(
    request: ServerRequest<Privacy_Vault_V1_EraseFieldsRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Vault_V1_EraseFieldsResponse> {
    let message = request.message
    let subjectID = try Validate.subjectID(message.subjectID)
    let fields = try Self.fieldNames(message.fields)
    let reason = try Self.optionalReason(message.reason)
    let outcome = try await vault.eraseFields(
      subjectID: subjectID, fields: fields, lock: message.lock, reason: reason, caller: caller(request))
    return ServerResponse(message: .with {
      $0.version = outcome.version
      $0.erasedFields = outcome.erasedFields
      $0.lockedFields = outcome.lockedFields
    })
  }

  func unlockFields(
    request: ServerRequest<Privacy_Vault_V1_UnlockFieldsRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Vault_V1_UnlockFieldsResponse> {
    let message = request.message
    let subjectID = try Validate.subjectID(message.subjectID)
    let fields = try Self.fieldNames(message.fields)
    let reason = try Self.optionalReason(message.reason)
    let outcome = try await vault.unlockFields(subjectID: subjectID, fields: fields, reason: reason, caller: caller(request))
    return ServerResponse(message: .with {
      $0.version = outcome.version
      $0.unlockedFields = outcome.unlocked
    })
  }

  func erasePersonalData(
    request: ServerRequest<Privacy_Vault_V1_ErasePersonalDataRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Vault_V1_ErasePersonalDataResponse> {
    let subjectID = try Validate.subjectID(request.message.subjectID)
    let reason = try Validate.reason(request.message.reason)
    let result = try await vault.erasePersonalData(
      subjectID: subjectID, reason: reason, onlyIfPending: request.message.onlyIfPending, caller: caller(request))
    return ServerResponse(message: .with {
      $0.erasedFields = result.outcome.erasedFields
      $0.retainedFields = result.outcome.retainedFields
      $0.keyDestroyed = result.outcome.keyDestroyed
      $0.alreadyErased = result.alreadyErased
      $0.erasedAt = result.outcome.erasedAt.protoTimestamp
      $0.kAnonymity = result.outcome.kAnonymity.proto
      $0.version = result.version
    })
  }

  func releaseRecord(
    request: ServerRequest<Privacy_Vault_V1_ReleaseRecordRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Vault_V1_ReleaseRecordResponse> {
    let subjectID = try Validate.subjectID(request.message.subjectID)
    let reason = try Validate.reason(request.message.reason)
    let outcome = try await vault.releaseRecord(subjectID: subjectID, reason: reason, caller: caller(request))
    return ServerResponse(message: .with {
      $0.released = outcome.released
      $0.version = outcome.version
    })
  }

  func setRestriction(
    request: ServerRequest<Privacy_Vault_V1_SetRestrictionRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Vault_V1_SetRestrictionResponse> {
    let message = request.message
    let subjectID = try Validate.subjectID(message.subjectID)
    let reason = try Validate.reason(message.reason)
    let outcome = try await vault.setRestriction(
      subjectID: subjectID, restricted: message.restricted, reason: reason, caller: caller(request))
    return ServerResponse(message: .with {
      $0.restricted = outcome.flag != nil
      if let flag = outcome.flag { $0.restrictedSince = flag.since.protoTimestamp }
      $0.changed = outcome.changed
      $0.version = outcome.version
    })
  }

  func setHumanReview(
    request: ServerRequest<Privacy_Vault_V1_SetHumanReviewRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Vault_V1_SetHumanReviewResponse> {
    let message = request.message
    let subjectID = try Validate.subjectID(message.subjectID)
    let reason = try Validate.reason(message.reason)
    let outcome = try await vault.setHumanReview(subjectID: subjectID, on: message.humanReview, reason: reason, caller: caller(request))
    return ServerResponse(message: .with {
      $0.humanReview = outcome.flag != nil
      if let flag = outcome.flag { $0.humanReviewSince = flag.since.protoTimestamp }
      $0.changed = outcome.changed
      $0.version = outcome.version
    })
  }

  // MARK: Keys

  func rotateMasterKey(
    request: ServerRequest<Privacy_Vault_V1_RotateMasterKeyRequest>, context: ServerContext
  ) async throws -> ServerResponse<Privacy_Vault_V1_RotateMasterKeyResponse> {
    let outcome = try await vault.rotateMasterKey()
    return ServerResponse(message: .with {
      $0.activeKeyID = outcome.activeKeyID
      $0.rewrappedCount = outcome.rewrapped
      $0.unchangedCount = outcome.unchanged
    })
  }
}
