import ArgumentParser
import PrivacyProtocol

// The mailer's side, for a role granted the services' ListOutbox and AckOutbox (the shipped
// `service` role): the messages waiting to be sent, marking them sent, and for double opt-in the
// confirmation the landing page behind the link records.

/// The message ids an `outbox ack` marks as sent.
struct AckOptions: ParsableArguments {
  @Option(name: .customLong("message"), help: "Id of a message that was sent (repeat for several).")
  var messageIDs: [String] = []

  func validate() throws {
    guard !messageIDs.isEmpty else { throw ValidationError("name at least one --message") }
  }
}

/// How many messages an `outbox ack` acknowledged.
func ackedView(_ count: UInt32) -> String {
  Details([("acknowledged", "\(count) message(s)")]).rendered
}

extension OptInCommand {
  struct Outbox: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Double opt-in confirmation messages waiting for the mailer.",
      subcommands: [List.self, Ack.self],
      defaultSubcommand: List.self
    )

    struct List: AsyncParsableCommand {
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

    struct Ack: AsyncParsableCommand {
      static let configuration = CommandConfiguration(
        abstract: "Mark confirmation messages as sent (the role needs ConsentService/AckOutbox)."
      )

      @OptionGroup var connection: ConnectionOptions
      @OptionGroup var ack: AckOptions

      func run() async throws {
        let response = try await connection.withGateway { gateway in
          try await gateway.consent.ackOutbox(.with { $0.messageIds = ack.messageIDs }, options: gateway.call)
        }
        try connection.printer.emit(response) { ackedView(response.ackedCount) }
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

extension RequestsCommand {
  struct Outbox: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Identity-verification messages to requesters waiting for the mailer.",
      subcommands: [List.self, Ack.self],
      defaultSubcommand: List.self
    )

    struct List: AsyncParsableCommand {
      static let configuration = CommandConfiguration(
        abstract: "List messages to requesters waiting for the mailer (the role needs SubjectRightsService/ListOutbox)."
      )

      @OptionGroup var connection: ConnectionOptions

      @Flag(help: "Include messages already acknowledged as sent.")
      var includeAcked = false

      @OptionGroup var page: PageOptions

      func run() async throws {
        let response = try await connection.withGateway { gateway in
          try await gateway.rights.listOutbox(.with {
            $0.includeAcked = includeAcked
            $0.pageSize = page.pageSize
            $0.pageToken = page.pageToken
          }, options: gateway.call)
        }
        try connection.printer.emit(response) {
          Table(
            header: ["MESSAGE", "KIND", "REQUEST", "TO", "CREATED", "LINK OR TOKEN"],
            rows: response.messages.map { message in
              [
                message.messageID, Format.name(message.kind), message.requestID, message.recipientEmail,
                Format.time(message.createdAt), message.link.isEmpty ? message.token : message.link,
              ]
            }
          ).rendered(empty: "no messages", nextPageToken: response.nextPageToken)
        }
      }
    }

    struct Ack: AsyncParsableCommand {
      static let configuration = CommandConfiguration(
        abstract: "Mark messages to requesters as sent (the role needs SubjectRightsService/AckOutbox)."
      )

      @OptionGroup var connection: ConnectionOptions
      @OptionGroup var ack: AckOptions

      func run() async throws {
        let response = try await connection.withGateway { gateway in
          try await gateway.rights.ackOutbox(.with { $0.messageIds = ack.messageIDs }, options: gateway.call)
        }
        try connection.printer.emit(response) { ackedView(response.ackedCount) }
      }
    }
  }
}
