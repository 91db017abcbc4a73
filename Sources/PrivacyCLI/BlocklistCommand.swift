import ArgumentParser
import PrivacyProtocol

/// `privacyctl blocklist ...`: the keyed hashes of erased persons' identifiers. Values go in,
/// never come out: outputs name identifiers by position and kind, entries by hash prefix.
struct BlocklistCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "blocklist",
    abstract: "Check, list and remove identifiers of erased persons.",
    subcommands: [Check.self, List.self, Remove.self]
  )

  struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Check identifiers; the output names each by position and kind, never by value."
    )

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var identifiers: IdentifierOptions

    func run() async throws {
      let identifiers = identifiers.all
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

  struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List entries, newest first, by hash prefix (never values).")

    @OptionGroup var connection: ConnectionOptions

    @Option(name: .customLong("kind"), help: "Only entries of this kind: email, phone, national-id, custom (repeatable).")
    var kinds: [Privacy_Blocklist_V1_IdentifierKind] = []

    @Flag(help: "Include removed entries.")
    var includeRemoved = false

    @Option(help: "Only entries added for this data-subject request.")
    var request: String = ""

    @OptionGroup var page: PageOptions

    func run() async throws {
      let response = try await connection.withGateway { gateway in
        try await gateway.blocklist.list(.with {
          $0.filter = .with {
            $0.kinds = kinds
            $0.includeRemoved = includeRemoved
            $0.requestID = request
          }
          $0.pageSize = page.pageSize
          $0.pageToken = page.pageToken
        }, options: gateway.call)
      }
      try connection.printer.emit(response) {
        Table(
          header: ["ENTRY", "KIND", "HASH", "ADDED", "REASON", "REQUEST", "REMOVED"],
          rows: response.entries.map { entry in
            [
              entry.entryID, Format.name(entry.kind), entry.hashPrefix, Format.time(entry.addedAt), entry.reason, entry.requestID,
              entry.removed ? "\(Format.time(entry.removedAt)): \(entry.removalReason)" : "",
            ]
          }
        ).rendered(empty: "no entries", nextPageToken: response.nextPageToken)
      }
    }
  }

  struct Remove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Remove identifiers (the person may be contacted again); the entry stays listed as history."
    )

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var identifiers: IdentifierOptions

    @Option(help: "Why, 1-500 characters (e.g. the person asked to be contacted again).")
    var reason: String

    func run() async throws {
      let identifiers = identifiers.all
      let response = try await connection.withGateway { gateway in
        try await gateway.blocklist.remove(.with {
          $0.identifiers = identifiers
          $0.reason = reason
        }, options: gateway.call)
      }
      try connection.printer.emit(response) {
        Details([("removed", "\(response.removedCount)"), ("not present", "\(response.notPresentCount)")]).rendered
      }
    }
  }
}

/// Identifiers given on the command line, at least one.
struct IdentifierOptions: ParsableArguments {
  @Option(name: .customLong("email"), help: "An email address (repeatable).")
  var emails: [String] = []

  @Option(name: .customLong("phone"), help: "A phone number (repeatable).")
  var phones: [String] = []

  @Option(name: .customLong("national-id"), help: "A national id number (repeatable).")
  var nationalIDs: [String] = []

  @Option(name: .customLong("custom"), help: "Any other identifier (repeatable).")
  var customs: [String] = []

  func validate() throws {
    guard !all.isEmpty else { throw ValidationError("give at least one --email, --phone, --national-id or --custom") }
  }

  /// In the order given by kind: emails, phones, national ids, custom.
  var all: [Privacy_Blocklist_V1_Identifier] {
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
}
