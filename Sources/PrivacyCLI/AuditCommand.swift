import ArgumentParser
import Foundation
import PrivacyKit
import PrivacyProtocol

/// `privacyctl audit list|verify|checkpoint export`: the gateway's keyed hash-chained log of
/// every call, and the signed checkpoints that let a verification catch a truncated or rebuilt log.
struct AuditCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "audit",
    abstract: "Read and verify the gateway's audit log.",
    subcommands: [List.self, Verify.self, Checkpoint.self]
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
              entry.method, Self.subjects(of: entry),
              entry.phase == .intent ? "(intent)" : StatusCodeArgument.name(entry.statusCode),
              Format.list(entry.fieldsRevealed), entry.reason,
            ]
          }
        ).rendered(empty: "no entries", nextPageToken: response.nextPageToken)
      }
    }

    /// The subject column: the one subject, a batch call's count, or `-`.
    static func subjects(of entry: Privacy_Gateway_V1_AuditEntry) -> String {
      if entry.subjectsTouched > 0 { return "(\(entry.subjectsTouched) subjects)" }
      return entry.subjectID.isEmpty ? "-" : entry.subjectID
    }
  }

  struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Recompute the audit log's hash chain (exits 1 and names the first broken entry when it is broken)."
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Checkpoints exported earlier (audit checkpoint export): the log must still reach and match each.")
    var checkpoints: String?

    func run() async throws {
      var request = Privacy_Gateway_V1_VerifyAuditRequest()
      if let checkpoints {
        guard let data = FileManager.default.contents(atPath: checkpoints),
          let file = try? Privacy_Gateway_V1_ListAuditCheckpointsResponse(jsonUTF8Data: data)
        else { throw LocalFailure("\(checkpoints) is not a checkpoint file written by audit checkpoint export") }
        request.checkpoints = file.checkpoints
      }
      let response = try await connection.withGateway { gateway in
        try await gateway.admin.verifyAudit(request, options: gateway.call)
      }
      try connection.printer.emit(response) { ChainView.details(response.verification) }
      if !response.verification.valid { throw ExitCode(1) }
    }
  }

  struct Checkpoint: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "The audit log's signed checkpoints.", subcommands: [Export.self])

    struct Export: AsyncParsableCommand {
      static let configuration = CommandConfiguration(
        abstract: "Write every checkpoint to a file (JSON), to keep where the gateway's database is not.")

      @OptionGroup var connection: ConnectionOptions

      @Option(help: "The file to write.")
      var out: String

      func run() async throws {
        var all = Privacy_Gateway_V1_ListAuditCheckpointsResponse()
        try await connection.withGateway { gateway in
          var token = ""
          repeat {
            let page = try await gateway.admin.listAuditCheckpoints(.with {
              $0.pageSize = 1000
              $0.pageToken = token
            }, options: gateway.call)
            all.checkpoints += page.checkpoints
            token = page.nextPageToken
          } while !token.isEmpty
        }
        guard FileManager.default.createFile(atPath: out, contents: try all.jsonUTF8Data()) else {
          throw LocalFailure("cannot write \(out)")
        }
        Printer.writeError("wrote \(all.checkpoints.count) checkpoint(s), the last at entry \(all.checkpoints.last?.sequence ?? 0), to \(out)\n")
      }
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
