import ArgumentParser
import PrivacyProtocol

/// `privacyctl optin ...`: the email opt-in status and double opt-in.
struct OptInCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "optin",
    abstract: "Email opt-in: eligibility, status, double opt-in.",
    subcommands: [Eligibility.self, SetStatus.self, Start.self, Outbox.self, Confirm.self]
  )

  struct Eligibility: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Ask whether a subject may be emailed, and show the opt-in status.")

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Subject id.")
    var subject: String

    @Option(help: "Opt-in policy the message must meet (default: double-or-user).")
    var policy: Privacy_Consent_V1_EligibilityPolicy?

    @Option(help: "Kind of message (default: campaign).")
    var messageKind: Privacy_Consent_V1_MessageKind?

    @Option(help: "Mailing list the message goes to, if any.")
    var list: String = ""

    @Option(help: "Purpose the message is sent under, if any (default: the email-marketing purposes decide).")
    var purpose: String = ""

    func run() async throws {
      let response = try await connection.withGateway { gateway in
        try await gateway.consent.checkEmailEligibility(.with {
          $0.subjectID = subject
          $0.policy = policy ?? .doubleOrUser
          $0.messageKind = messageKind ?? .campaign
          $0.listID = list
          $0.purposeID = purpose
        }, options: gateway.call)
      }
      try connection.printer.emit(response) {
        Details([
          ("allowed", Format.yesNo(response.allowed)),
          ("reason", Format.name(response.reason)),
          ("opt-in status", Format.name(response.optInStatus)),
          ("detail", response.detail),
        ]).rendered
      }
    }
  }

  struct SetStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "set", abstract: "Set a subject's email opt-in status.")

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Subject id.")
    var subject: String

    @Option(help: "The new status.")
    var status: Privacy_Consent_V1_OptInStatus

    @Option(help: "Who set it: user (the person), contact (on the person's behalf) or webform (default: contact).")
    var setBy: Privacy_Consent_V1_OptInSetter?

    @OptionGroup var source: SourceOptions

    func run() async throws {
      let response = try await connection.withGateway { gateway in
        try await gateway.consent.setEmailOptInStatus(.with {
          $0.subjectID = subject
          $0.status = status
          $0.setBy = setBy ?? .contact
          $0.evidence = source.evidence()
        }, options: gateway.call)
      }
      try connection.printer.emit(response) {
        Details([
          ("previous status", Format.name(response.previousStatus)),
          ("status", Format.name(response.status)),
          ("event", response.event.sequence == 0 ? "" : "#\(response.event.sequence)"),
        ]).rendered
      }
    }
  }

  struct Start: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "start-double",
      abstract: "Start double opt-in: queue a confirmation message to the subject's address."
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Subject id.")
    var subject: String

    @Option(help: "Address the confirmation is sent to.")
    var email: String

    @OptionGroup var source: SourceOptions

    func run() async throws {
      let response = try await connection.withGateway { gateway in
        try await gateway.consent.startDoubleOptIn(.with {
          $0.subjectID = subject
          $0.emailAddress = email
          $0.evidence = source.evidence()
        }, options: gateway.call)
      }
      try connection.printer.emit(response) {
        Details([
          ("message", response.messageID),
          ("expires", Format.time(response.expiresAt, isSet: response.hasExpiresAt)),
          ("event", response.event.sequence == 0 ? "" : "#\(response.event.sequence)"),
        ]).rendered
      }
    }
  }
}
