import PrivacyProtocol

/// The recipients (art 19) concerned by a change, and what each is to be told.
enum RecipientNotices {
  /// Recipients receiving any of `purposeIDs`, each with the vault fields those purposes cover
  /// (DATA_STORAGE purposes name them) and `notice`. Recipient notes are left out: they are the
  /// controller's contract details, not something to repeat in every request.
  static func concerning(
    _ purposeIDs: Set<String>, purposes: [String: Privacy_Consent_V1_Purpose], notice: String, context: WorkflowContext
  ) async throws -> [Privacy_Gateway_V1_RecipientNotice] {
    guard !purposeIDs.isEmpty else { return [] }
    return try await context.recipients().compactMap { recipient in
      let received = Set(recipient.purposeIds).intersection(purposeIDs)
      guard !received.isEmpty else { return nil }
      var trimmed = recipient
      trimmed.notes = ""
      trimmed.clearCreatedAt()
      trimmed.clearUpdatedAt()
      let fields = Set(received.flatMap { purposes[$0]?.vaultFields ?? [] })
      return .with {
        $0.recipient = trimmed
        $0.fields = fields.sorted()
        $0.notice = notice
      }
    }
  }

  /// The purposes that apply or applied to a subject: every purpose on another basis than
  /// consent (they apply to everyone), and every purpose the subject ever decided on.
  static func purposesConcerning(
    state: Privacy_Consent_V1_SubjectState?, purposes: [String: Privacy_Consent_V1_Purpose]
  ) -> Set<String> {
    var concerned = Set(purposes.values.filter { $0.legalBasis != .consent }.map(\.purposeID))
    for purpose in state?.purposes ?? [] where purpose.decision != .unspecified { concerned.insert(purpose.purposeID) }
    return concerned
  }
}
