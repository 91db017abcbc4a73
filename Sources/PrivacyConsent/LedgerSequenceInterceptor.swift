import GRPCCore
import PrivacyKit

/// Ends every answer with the ledger's head in its trailers (`x-ledger-sequence`), read after
/// the call's work: a write's own events are at or before it. The gateway's copy of the ledger
/// answers checks only once it holds that far, so a caller reads what it wrote through the gateway.
struct LedgerSequenceInterceptor: ServerInterceptor {
  let ledger: ConsentLedger

  func intercept<Input: Sendable, Output: Sendable>(
    request: StreamingServerRequest<Input>,
    context: ServerContext,
    next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
  ) async throws -> StreamingServerResponse<Output> {
    var response = try await next(request, context)
    if case .success(var contents) = response.accepted {
      let producer = contents.producer
      let ledger = self.ledger
      contents.producer = { writer in
        var trailers = try await producer(writer)
        trailers.replaceOrAddString(String(ledger.headSequence), forKey: MetadataKey.ledgerSequence)
        return trailers
      }
      response.accepted = .success(contents)
    }
    return response
  }
}
