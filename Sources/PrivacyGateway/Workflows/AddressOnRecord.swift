import GRPCCore
import PrivacyProtocol

extension WorkflowContext {
  /// The email address on the subject's record (the vault field tagged `email`), where whatever
  /// the person asks for from their own page is confirmed: never an address the page sends, so
  /// whoever holds a forwarded link cannot confirm anything themselves. FAILED_PRECONDITION when
  /// the record has none; `purpose` says what the address is read for, in the vault's access log.
  func addressOnRecord(of subjectID: String, purpose: String) async throws -> String {
    let identifiers = try await ReentryCheck(context: self).identifiers(ofSubject: subjectID, reason: purpose)
    guard let address = identifiers?.first(where: { $0.kind == .email })?.value else {
      throw RPCError(
        code: .failedPrecondition, message: "subject \(subjectID.prefix(128)) has no email address on record to confirm at")
    }
    return address
  }
}
