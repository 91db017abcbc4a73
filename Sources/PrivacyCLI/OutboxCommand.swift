import ArgumentParser
import Foundation
import PrivacyProtocol
import SwiftProtobuf

/// Both outboxes in one listing, for whoever runs the mail relay: what waits, what was sent, what
/// failed for good and the mail server's last word on it (never an address).
struct OutboxCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "outbox",
    abstract: "The mail the suite sends: consent confirmations and notices to requesters.",
    subcommands: [List.self],
    defaultSubcommand: List.self
  )

  struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "List both outboxes (the role needs ListOutbox of ConsentService and SubjectRightsService)."
    )

    @OptionGroup var connection: ConnectionOptions

    @Flag(help: "Only messages whose delivery failed for good.")
    var failed = false

    @Flag(help: "Include messages already sent.")
    var includeAcked = false

    @Option(help: "Most messages to list from each outbox (0: the server's default).")
    var pageSize: Int32 = 0

    func validate() throws {
      if failed && includeAcked { throw ValidationError("--failed lists failed messages only; leave out --include-acked") }
    }

    func run() async throws {
      let (consent, rights) = try await connection.withGateway { gateway in
        let consent = try await gateway.consent.listOutbox(.with {
          $0.includeAcked = includeAcked
          $0.failedOnly = failed
          $0.pageSize = pageSize
        }, options: gateway.call)
        let rights = try await gateway.rights.listOutbox(.with {
          $0.includeAcked = includeAcked
          $0.failedOnly = failed
          $0.pageSize = pageSize
        }, options: gateway.call)
        return (consent, rights)
      }
      let printer = connection.printer
      guard printer.format == .table else {
        try Printer.write("{\n\"consent\": \(try printer.json(consent)),\n\"rights\": \(try printer.json(rights))\n}\n")
        return
      }
      let rows =
        consent.messages.map { row("consent", $0.messageID, Format.name($0.kind), $0.subjectID, $0.createdAt, $0.hasAckedAt ? $0.ackedAt : nil, $0.delivery) }
        + rights.messages.map { row("rights", $0.messageID, Format.name($0.kind), $0.requestID, $0.createdAt, $0.hasAckedAt ? $0.ackedAt : nil, $0.delivery) }
      var text = Table(header: ["OUTBOX", "MESSAGE", "KIND", "ABOUT", "CREATED", "STATE", "ATTEMPTS", "LAST FAILURE"], rows: rows)
        .rendered(empty: failed ? "no failed messages" : "no messages")
      if !consent.nextPageToken.isEmpty || !rights.nextPageToken.isEmpty { text += "more messages: raise --page-size\n" }
      try Printer.write(text)
    }

    private func row(
      _ outbox: String, _ id: String, _ kind: String, _ about: String, _ created: Google_Protobuf_Timestamp,
      _ acked: Google_Protobuf_Timestamp?, _ delivery: Privacy_Common_V1_OutboxDelivery
    ) -> [String] {
      [outbox, id, kind, about, Format.time(created), Self.state(acked: acked, delivery), String(delivery.attempts), delivery.lastFailure]
    }

    /// Sent, failed, waiting for a retry, with a relay, or waiting.
    static func state(acked: Google_Protobuf_Timestamp?, _ delivery: Privacy_Common_V1_OutboxDelivery) -> String {
      if let acked { return "sent \(Format.time(acked))" }
      if delivery.hasFailedAt { return "failed \(Format.time(delivery.failedAt))" }
      if delivery.hasNextAttemptAt, delivery.nextAttemptAt.date > Date() { return "retry at \(Format.time(delivery.nextAttemptAt))" }
      if delivery.hasLeasedUntil, delivery.leasedUntil.date > Date() { return "sending" }
      return "waiting"
    }
  }
}
