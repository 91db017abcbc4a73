import ArgumentParser
import PrivacyProtocol

/// `privacyctl consent ...`: the consent ledger of a subject.
struct ConsentCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "consent",
    abstract: "Record, check and trace consent decisions.",
    subcommands: [Record.self, Bulk.self, Check.self, History.self, State.self, Withdraw.self, Verify.self, Receipt.self, Link.self]
  )

  struct Record: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Record a consent decision with its evidence.")

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Subject id.")
    var subject: String

    @Option(help: "Purpose id.")
    var purpose: String

    @Option(help: "The decision: granted, denied or withdrawn.")
    var decision: Privacy_Consent_V1_Decision

    @Option(help: "Lawful basis, when it is not the purpose's own.")
    var basis: Privacy_Consent_V1_LegalBasis?

    @OptionGroup var source: SourceOptions

    @Option(help: "Version of the privacy notice the person was shown (default: the purpose's current one).")
    var noticeVersion: String = ""

    func run() async throws {
      let request = Privacy_Consent_V1_RecordConsentRequest.with {
        $0.subjectID = subject
        $0.purposeID = purpose
        $0.decision = decision
        if let basis { $0.legalBasis = basis }
        $0.evidence = source.evidence(noticeVersion: noticeVersion)
      }
      let response = try await connection.withGateway { gateway in
        try await gateway.consent.recordConsent(request, options: gateway.call)
      }
      try connection.printer.emit(response) { EventTable.details(response.event) }
    }
  }

  struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Ask whether a purpose may be applied to a subject.")

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Subject id.")
    var subject: String

    @Option(help: "Purpose id.")
    var purpose: String

    func run() async throws {
      let response = try await connection.withGateway { gateway in
        try await gateway.consent.checkConsent(.with {
          $0.subjectID = subject
          $0.purposeID = purpose
        }, options: gateway.call)
      }
      try connection.printer.emit(response) {
        Details([
          ("allowed", Format.yesNo(response.allowed)),
          ("reason", Format.name(response.reason)),
          ("decision", Format.name(response.decision)),
          ("basis", Format.name(response.legalBasis)),
          ("event", response.eventSequence == 0 ? "" : "#\(response.eventSequence)"),
          ("detail", response.detail),
        ]).rendered
      }
    }
  }

  struct History: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "List a subject's ledger events, oldest first.",
      aliases: ["events"]
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Subject id.")
    var subject: String

    @Option(help: "Only events about this purpose.")
    var purpose: String = ""

    @OptionGroup var page: PageOptions

    func run() async throws {
      let response = try await connection.withGateway { gateway in
        try await gateway.consent.listConsentEvents(.with {
          $0.subjectID = subject
          $0.purposeID = purpose
          $0.pageSize = page.pageSize
          $0.pageToken = page.pageToken
        }, options: gateway.call)
      }
      try connection.printer.emit(response) {
        EventTable.table(response.events).rendered(empty: "no events", nextPageToken: response.nextPageToken)
      }
    }
  }

  struct State: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a subject's current consents, opt-in status and restriction.")

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Subject id.")
    var subject: String

    func run() async throws {
      let response = try await connection.withGateway { gateway in
        try await gateway.consent.getConsentState(.with { $0.subjectID = subject }, options: gateway.call)
      }
      try connection.printer.emit(response) {
        let state = response.state
        var text = Details([
          ("subject", state.subjectID),
          ("opt-in status", Format.name(state.optInStatus)),
          ("restricted", state.restricted ? "yes (\(state.restrictionReason))" : "no"),
          ("erased", state.erased ? "yes" : ""),
          ("age", state.age.rawValue == 0 ? "" : Format.name(state.age)),
          ("last event", state.lastSequence == 0 ? "" : "#\(state.lastSequence)"),
        ]).rendered
        text += "\n" + Table(
          header: ["PURPOSE", "DECISION", "ALLOWED", "REASON", "BASIS", "DECIDED", "NOTICE"],
          rows: state.purposes.map { purpose in
            [
              purpose.purposeID, Format.name(purpose.decision), Format.yesNo(purpose.allowed), Format.name(purpose.reason),
              Format.name(purpose.legalBasis), Format.time(purpose.decidedAt, isSet: purpose.hasDecidedAt), purpose.noticeVersion,
            ]
          }
        ).rendered(empty: "no purpose decisions")
        return text
      }
    }
  }

  struct Withdraw: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Withdraw a consent and apply its consequences (erasure of stored fields, opt-out, recipients to notify)."
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Subject id.")
    var subject: String

    @Option(help: "Purpose id.")
    var purpose: String

    @Option(help: "Channel the withdrawal came through (default: api).")
    var channel: Privacy_Common_V1_Channel?

    func run() async throws {
      let request = Privacy_Gateway_V1_WithdrawConsentRequest.with {
        $0.subjectID = subject
        $0.purposeID = purpose
        if let channel { $0.evidence = .with { $0.channel = channel } }
      }
      let response = try await connection.withGateway { gateway in
        try await gateway.admin.withdrawConsent(request, options: gateway.call)
      }
      try connection.printer.emit(response) {
        var text = Details([
          ("event", "#\(response.eventSequence)" + (response.alreadyWithdrawn ? " (already withdrawn)" : "")),
          ("category", Format.name(response.category)),
          ("erased and locked", Format.list(response.erasedLockedFields)),
          ("opted out", response.optedOut ? "yes" : ""),
          ("opt-in status", response.optInStatus.rawValue == 0 ? "" : Format.name(response.optInStatus)),
        ]).rendered
        if !response.recipientsToNotify.isEmpty { text += "\n" + RecipientTable.table(response.recipientsToNotify).rendered }
        if !response.steps.isEmpty { text += "\n" + StepTable.table(response.steps).rendered }
        return text
      }
    }
  }
}

/// Consent ledger events as tables.
enum EventTable {
  static func table(_ events: [Privacy_Consent_V1_ConsentEvent]) -> Table {
    Table(
      header: ["SEQ", "RECORDED", "KIND", "PURPOSE", "WHAT", "CHANNEL", "BY"],
      rows: events.map { event in
        [
          "\(event.sequence)", Format.time(event.recordedAt), Format.name(event.kind), event.purposeID.isEmpty ? "-" : event.purposeID,
          what(event), Format.name(event.evidence.channel), event.recordedByActor,
        ]
      }
    )
  }

  static func details(_ event: Privacy_Consent_V1_ConsentEvent) -> String {
    Details([
      ("event", "#\(event.sequence)"),
      ("subject", event.subjectID),
      ("kind", Format.name(event.kind)),
      ("purpose", event.purposeID),
      ("decision", event.decision.rawValue == 0 ? "" : Format.name(event.decision)),
      ("basis", event.legalBasis.rawValue == 0 ? "" : Format.name(event.legalBasis)),
      ("opt-in status", event.optInStatus.rawValue == 0 ? "" : Format.name(event.optInStatus)),
      ("channel", Format.name(event.evidence.channel)),
      ("recorded", Format.time(event.recordedAt)),
      ("recorded by", event.recordedByActor),
      ("hash", event.hash),
    ]).rendered
  }

  /// The one value an event changed.
  private static func what(_ event: Privacy_Consent_V1_ConsentEvent) -> String {
    switch event.kind {
    case .consentDecision: Format.name(event.decision)
    case .optInStatusChanged: Format.name(event.optInStatus)
    case .subscribed, .unsubscribed: event.listID
    case .restrictionChanged: event.restricted ? "RESTRICTED" : "UNRESTRICTED"
    default: "-"
    }
  }
}
