import ArgumentParser
import PrivacyProtocol

// The mailer's side of double opt-in, for a role granted ConsentService ListOutbox and
// ConfirmDoubleOptIn (the shipped `service` role): the confirmation messages waiting to be sent,
// and the confirmation the landing page behind their link records.
extension OptInCommand {
  struct Outbox: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "List confirmation messages waiting for the mailer (the role needs ConsentService/ListOutbox)."
    )

    @OptionGroup var connection: ConnectionOptions

    @Flag(help: "Include messages already acknowledged as sent.")
    var includeAcked = false

    @OptionGroup var page: PageOptions

    func run() async throws {
      let response = try await connection.withGateway { gateway in
        try await gateway.consent.listOutbox(.with {
          $0.includeAcked = includeAcked
          $0.pageSize = page.pageSize
          $0.pageToken = page.pageToken
        }, options: gateway.call)
      }
      try connection.printer.emit(response) {
        Table(
          header: ["MESSAGE", "KIND", "SUBJECT", "CREATED", "LINK"],
          rows: response.messages.map { message in
            [message.messageID, Format.name(message.kind), message.subjectID, Format.time(message.createdAt), message.link]
          }
        ).rendered(empty: "no messages", nextPageToken: response.nextPageToken)
      }
    }
  }

  struct Confirm: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Confirm a double opt-in with the token of its link (the role needs ConsentService/ConfirmDoubleOptIn)."
    )

    @OptionGroup var connection: ConnectionOptions

    /// Unconditional: a base64url token may begin with `-`, which would otherwise read as a flag.
    @Option(parsing: .unconditional, help: "The token from the confirmation link.")
    var token: String

    func run() async throws {
      let response = try await connection.withGateway { gateway in
        try await gateway.consent.confirmDoubleOptIn(.with { $0.token = token }, options: gateway.call)
      }
      try connection.printer.emit(response) {
        Details([
          ("subject", response.subjectID),
          ("opt-in status", Format.name(response.event.optInStatus)),
          ("event", response.event.sequence == 0 ? "" : "#\(response.event.sequence)"),
        ]).rendered
      }
    }
  }
}
