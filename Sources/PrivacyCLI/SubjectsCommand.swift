import ArgumentParser
import PrivacyProtocol

/// `privacyctl subjects stop-processing|resume-processing`: restriction of processing (art 18).
struct SubjectsCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "subjects",
    abstract: "Restrict and resume processing of a subject's data (art 18).",
    subcommands: [StopProcessing.self, ResumeProcessing.self]
  )

  struct StopProcessing: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "stop-processing",
      abstract: "Restrict processing: the record refuses writes, no email except replies, a RESTRICTION request is logged."
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Subject id.")
    var subject: String

    @Option(help: "Why (e.g. accuracy contested by the subject); recorded everywhere.")
    var reason: String

    func run() async throws {
      let response = try await connection.withGateway { gateway in
        try await gateway.admin.stopProcessing(.with {
          $0.subjectID = subject
          $0.reason = reason
        }, options: gateway.call)
      }
      try connection.printer.emit(response) {
        var text = Details([
          ("subject", subject),
          ("restriction request", response.restrictionRequestID),
          ("outcome", response.alreadyRestricted ? "already restricted" : "restricted"),
        ]).rendered
        if !response.steps.isEmpty { text += "\n" + StepTable.table(response.steps).rendered }
        return text
      }
    }
  }

  struct ResumeProcessing: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "resume-processing",
      abstract: "Lift a restriction of processing (the subject is to be told first, art 18(3))."
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Subject id.")
    var subject: String

    @Option(help: "Why the restriction is lifted; recorded everywhere.")
    var reason: String

    func run() async throws {
      let response = try await connection.withGateway { gateway in
        try await gateway.admin.resumeProcessing(.with {
          $0.subjectID = subject
          $0.reason = reason
        }, options: gateway.call)
      }
      try connection.printer.emit(response) {
        var text = Details([
          ("subject", subject),
          ("restriction request", response.restrictionRequestID),
          ("outcome", response.wasRestricted ? "restriction lifted" : "was not restricted"),
        ]).rendered
        if !response.steps.isEmpty { text += "\n" + StepTable.table(response.steps).rendered }
        return text
      }
    }
  }
}
