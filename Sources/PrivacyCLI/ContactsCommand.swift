import ArgumentParser
import PrivacyProtocol

/// `privacyctl contacts create`: a new contact with its consents, after the re-entry check.
struct ContactsCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "contacts",
    abstract: "Create contacts (blocklist check, record, consents, opt-in).",
    subcommands: [Create.self]
  )

  struct Create: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Create a contact; a previously erased person is refused unless re-entering by their own webform."
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Subject id to use (default: generated); repeating it retries idempotently.")
    var subject: String = ""

    @Option(name: .customLong("value"), help: "A field value as name=value (repeatable, at least one).")
    var values: [KeyValue] = []

    @Option(name: .customLong("consent"), help: "A consent as purpose=decision, e.g. newsletter=granted (repeatable).")
    var consents: [KeyValue] = []

    @OptionGroup var source: SourceOptions

    @Option(help: "Version of the privacy notice the person was shown (default: the purpose's current one).")
    var noticeVersion: String = ""

    @Flag(help: "The data is the person's own webform submission (re-entry after erasure is then lawful).")
    var ownWebform = false

    @Flag(help: "The person ticked the marketing box (single opt-in, then a double opt-in message).")
    var marketingBox = false

    @Option(help: "Reason for overriding a blocklist match (roles allowed to override only; audited).")
    var overrideReason: String = ""

    func validate() throws {
      guard !values.isEmpty else { throw ValidationError("give at least one --value name=value") }
      _ = try values.dictionary(flag: "--value")
      _ = try contactConsents()
    }

    private func contactConsents() throws -> [Privacy_Gateway_V1_ContactConsent] {
      try consents.map { pair in
        guard let decision = Privacy_Consent_V1_Decision(argument: pair.value) else {
          throw ValidationError("--consent \(pair.key)=\(pair.value): the decision must be granted, denied or withdrawn")
        }
        return .with {
          $0.purposeID = pair.key
          $0.decision = decision
        }
      }
    }

    func run() async throws {
      let request = try Privacy_Gateway_V1_CreateContactRequest.with {
        $0.subjectID = subject
        $0.values = try values.dictionary(flag: "--value")
        $0.consents = try contactConsents()
        $0.source = .with {
          $0.evidence = source.evidence(noticeVersion: noticeVersion)
          $0.ownWebformSubmission = ownWebform
          $0.marketingBoxTicked = marketingBox
        }
        $0.overrideReason = overrideReason
      }
      let response = try await connection.withGateway { gateway in
        try await gateway.admin.createContact(request, options: gateway.call)
      }
      try connection.printer.emit(response) {
        var text = Details([
          ("subject", response.subjectID),
          ("record version", "\(response.recordVersion)"),
          ("pending", response.pending ? "yes: the record is held until the double opt-in is confirmed" : ""),
          ("re-entry check", Format.name(response.reentryOutcome)),
          ("opt-in status", response.optInStatus.rawValue == 0 ? "" : Format.name(response.optInStatus)),
          ("double opt-in message", response.doubleOptInMessageID),
          ("consent events", Format.list(response.consentEvents.map { "#\($0.sequence) \($0.purposeID) \(Format.name($0.decision))" })),
          ("withheld", Format.list(response.withheldFields)),
        ]).rendered
        if !response.fields.isEmpty {
          text += "\n" + Table(
            header: ["FIELD", "CLASSIFICATION", "VALUE", "MASKED"],
            rows: response.fields.map { [$0.name, Format.name($0.classification), $0.value, Format.yesNo($0.masked)] }
          ).rendered
        }
        return text
      }
    }
  }
}
