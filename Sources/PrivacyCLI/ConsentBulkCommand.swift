import ArgumentParser
import Foundation
import PrivacyProtocol

extension ConsentCommand {
  /// `privacyctl consent bulk`: one decision for many subjects (an import of consents collected
  /// elsewhere, a move to another lawful basis), by id or by their current decision.
  struct Bulk: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Record one decision for many subjects, chosen by id or by their current decision on a purpose.",
      discussion: """
        All or nothing: one event per subject, each with the same evidence and reason. Granting a \
        storage purpose through the gateway unlocks its vault fields for every subject updated.
        """
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Purpose id the decision is about.")
    var purpose: String

    @Option(help: "The decision: granted, denied or withdrawn.")
    var decision: Privacy_Consent_V1_Decision

    @Option(help: "Lawful basis, when it is not the purpose's own.")
    var basis: Privacy_Consent_V1_LegalBasis?

    @Option(help: "Why, 1-500 characters; stored on every event.")
    var reason: String

    @Option(name: .customLong("subject"), help: "A subject to update (repeat for several).")
    var subjects: [String] = []

    @Option(help: "A file of subject ids to update, one per line (at most 10,000 with --subject).")
    var subjectsFile: String?

    @Option(help: "Instead of ids: the subjects whose latest decision on this purpose is --where-decision.")
    var wherePurpose: String?

    @Option(help: "With --where-purpose: the latest decisions to match (repeat for several).")
    var whereDecision: [Privacy_Consent_V1_Decision] = []

    @OptionGroup var source: SourceOptions

    @Option(help: "Version of the privacy notice the people were shown (default: the purpose's current one).")
    var noticeVersion: String = ""

    func validate() throws {
      let byID = !subjects.isEmpty || subjectsFile != nil
      guard byID != (wherePurpose != nil) else {
        throw ValidationError("choose the subjects either by --subject/--subjects-file or by --where-purpose")
      }
      if wherePurpose != nil, whereDecision.isEmpty { throw ValidationError("--where-purpose needs at least one --where-decision") }
      if wherePurpose == nil, !whereDecision.isEmpty { throw ValidationError("--where-decision needs --where-purpose") }
    }

    func run() async throws {
      let selector: Privacy_Consent_V1_BulkUpdateRequest.OneOf_Selector
      if let wherePurpose {
        selector = .filter(.with {
          $0.purposeID = wherePurpose
          $0.decisions = whereDecision
        })
      } else {
        let ids = try subjectIDs()
        selector = .subjectIds(.with { $0.subjectIds = ids })
      }
      let request = Privacy_Consent_V1_BulkUpdateRequest.with {
        $0.selector = selector
        $0.purposeID = purpose
        $0.decision = decision
        if let basis { $0.legalBasis = basis }
        $0.evidence = source.evidence(noticeVersion: noticeVersion)
        $0.reason = reason
      }
      let response = try await connection.withGateway { gateway in
        try await gateway.consent.bulkUpdate(request, options: gateway.call)
      }
      try connection.printer.emit(response) {
        Details([
          ("updated", "\(response.updatedCount) subject(s)"),
          ("events", response.updatedCount == 0 ? "" : "#\(response.firstSequence) to #\(response.lastSequence)"),
        ]).rendered
      }
    }

    /// The ids from `--subject` and `--subjects-file` (blank lines skipped).
    private func subjectIDs() throws -> [String] {
      var ids = subjects
      if let subjectsFile {
        guard let text = try? String(contentsOfFile: subjectsFile, encoding: .utf8) else {
          throw ValidationError("cannot read --subjects-file \(subjectsFile)")
        }
        ids += text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
      }
      return ids
    }
  }
}
