import ArgumentParser
import PrivacyProtocol

/// `privacyctl blocklist check`: whether identifiers belong to a person erased before.
struct BlocklistCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "blocklist",
    abstract: "Check identifiers against the blocklist of erased persons.",
    subcommands: [Check.self]
  )

  struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Check identifiers; the output names each by position and kind, never by value."
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(name: .customLong("email"), help: "An email address (repeatable).")
    var emails: [String] = []

    @Option(name: .customLong("phone"), help: "A phone number (repeatable).")
    var phones: [String] = []

    @Option(name: .customLong("national-id"), help: "A national id number (repeatable).")
    var nationalIDs: [String] = []

    @Option(name: .customLong("custom"), help: "Any other identifier (repeatable).")
    var customs: [String] = []

    func validate() throws {
      guard !identifiers.isEmpty else { throw ValidationError("give at least one --email, --phone, --national-id or --custom") }
    }

    /// In the order given by kind: emails, phones, national ids, custom.
    private var identifiers: [Privacy_Blocklist_V1_Identifier] {
      let groups: [(Privacy_Blocklist_V1_IdentifierKind, [String])] = [(.email, emails), (.phone, phones), (.nationalID, nationalIDs), (.custom, customs)]
      return groups.flatMap { kind, values in
        values.map { value in
          Privacy_Blocklist_V1_Identifier.with {
            $0.kind = kind
            $0.value = value
          }
        }
      }
    }

    func run() async throws {
      let identifiers = identifiers
      let response = try await connection.withGateway { gateway in
        try await gateway.blocklist.check(.with { $0.identifiers = identifiers }, options: gateway.call)
      }
      try connection.printer.emit(response) {
        var text = Table(
          header: ["#", "KIND", "MATCHED", "REASON", "ADDED", "REQUEST"],
          rows: response.matches.map { result in
            [
              "\(result.index + 1)", Format.name(result.kind), Format.yesNo(result.matched), result.reason,
              Format.time(result.addedAt, isSet: result.hasAddedAt), result.requestID,
            ]
          }
        ).rendered
        text += response.anyMatched ? "blocked: a previously erased person\n" : "no match\n"
        return text
      }
    }
  }
}
