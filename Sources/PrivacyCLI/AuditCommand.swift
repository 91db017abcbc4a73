import ArgumentParser
import PrivacyKit
import PrivacyProtocol

/// `privacyctl audit list|verify`: the gateway's hash-chained log of every call.
struct AuditCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "audit",
    abstract: "Read and verify the gateway's audit log.",
    subcommands: [List.self, Verify.self]
  )

  struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List audit entries, newest first.")

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Only calls by this actor.")
    var actor: String = ""

    @Option(help: "Only calls of this method: a full name (privacy.vault.v1.VaultService/RevealField) or Service/*.")
    var method: String = ""

    @Option(help: "Only calls about this subject.")
    var subject: String = ""

    @Option(help: "Only calls at or after this time.")
    var since: Instant?

    @Option(help: "Only calls before this time.")
    var until: Instant?

    @Option(help: "Only calls that ended with this status: a name (ok, permission-denied) or a code (0-16).")
    var outcome: StatusCodeArgument?

    @Option(help: "Only the call with this gateway call id (x-request-id).")
    var callID: String = ""

    @OptionGroup var page: PageOptions

    func run() async throws {
      let request = Privacy_Gateway_V1_ListAuditRequest.with {
        $0.actor = actor
        $0.method = method
        $0.subjectID = subject
        if let since { $0.startTime = since.timestamp }
        if let until { $0.endTime = until.timestamp }
        if let outcome { $0.statusCode = outcome.code }
        $0.requestID = callID
        $0.pageSize = page.pageSize
        $0.pageToken = page.pageToken
      }
      let response = try await connection.withGateway { gateway in
        try await gateway.admin.listAudit(request, options: gateway.call)
      }
      try connection.printer.emit(response) {
        Table(
          header: ["SEQ", "TIME", "ACTOR", "ROLE", "METHOD", "SUBJECT", "OUTCOME", "REVEALED", "REASON"],
          rows: response.entries.map { entry in
            [
              "\(entry.sequence)", Format.time(entry.time), entry.actor.isEmpty ? "-" : entry.actor, entry.role.isEmpty ? "-" : entry.role,
              entry.method, entry.subjectID.isEmpty ? "-" : entry.subjectID, StatusCodeArgument.name(entry.statusCode),
              Format.list(entry.fieldsRevealed), entry.reason,
            ]
          }
        ).rendered(empty: "no entries", nextPageToken: response.nextPageToken)
      }
    }
  }

  struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Recompute the audit log's hash chain (exits 1 and names the first broken entry when it is broken)."
    )

    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
      let response = try await connection.withGateway { gateway in
        try await gateway.admin.verifyAudit(.init(), options: gateway.call)
      }
      try connection.printer.emit(response) { ChainView.details(response.verification) }
      if !response.verification.valid { throw ExitCode(1) }
    }
  }
}

/// A gRPC status code given by name or number.
struct StatusCodeArgument: ExpressibleByArgument {
  var code: Int32

  init?(argument: String) {
    if let number = Int32(argument), (0...16).contains(number) {
      code = number
      return
    }
    let wanted = argument.uppercased().replacingOccurrences(of: "-", with: "_")
    guard let index = (0...16).first(where: { Self.name(Int32($0)) == wanted }) else { return nil }
    code = Int32(index)
  }

  static func name(_ code: Int32) -> String { grpcStatusName(Int(code)) }
}
