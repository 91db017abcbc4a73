import ArgumentParser
import PrivacyProtocol

/// `privacyctl retention sweep`: erasure of everyone due under the retention policies.
struct RetentionCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "retention",
    abstract: "Apply the retention policies.",
    subcommands: [Sweep.self]
  )

  struct Sweep: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Open and execute an ERASURE request for every subject due; safe to run twice (exits 1 when a subject failed)."
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Evaluate retention as of this time (default: now).")
    var now: Instant?

    func run() async throws {
      let response = try await connection.withGateway { gateway in
        try await gateway.admin.runRetentionSweep(.with {
          if let now { $0.now = now.timestamp }
        }, options: gateway.call)
      }
      try connection.printer.emit(response) {
        var text = Details([
          ("evaluated at", Format.time(response.evaluatedAt, isSet: response.hasEvaluatedAt)),
          ("subjects due", "\(response.subjectsDue)"),
          ("requests opened", "\(response.requestsOpened)"),
          ("requests completed", "\(response.requestsCompleted)"),
          ("failures", "\(response.failures.count)"),
        ]).rendered
        if !response.failures.isEmpty {
          text += "\n" + Table(
            header: ["SUBJECT", "REQUEST", "STEP", "ERROR"],
            rows: response.failures.map { [$0.subjectID, $0.requestID, $0.step, $0.error] }
          ).rendered
        }
        return text
      }
      if !response.failures.isEmpty { throw ExitCode(1) }
    }
  }
}
