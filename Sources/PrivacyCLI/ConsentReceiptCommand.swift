import ArgumentParser
import Foundation
import PrivacyProtocol

extension ConsentCommand {
  /// `privacyctl consent receipt get|verify`: signed consent receipts.
  struct Receipt: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Fetch or check a signed consent receipt (a JWS of one ledger event).",
      subcommands: [Get.self, Verify.self]
    )

    struct Get: AsyncParsableCommand {
      static let configuration = CommandConfiguration(abstract: "Print the signed receipt of a subject's ledger event.")

      @OptionGroup var connection: ConnectionOptions

      @Option(help: "Subject id.")
      var subject: String

      @Option(help: "The event's ledger sequence.")
      var sequence: UInt64

      func run() async throws {
        let response = try await connection.withGateway { gateway in
          try await gateway.consent.getConsentReceipt(.with {
            $0.subjectID = subject
            $0.sequence = sequence
          }, options: gateway.call)
        }
        try connection.printer.emit(response) { response.jws + "\n" }
      }
    }

    struct Verify: AsyncParsableCommand {
      static let configuration = CommandConfiguration(
        abstract: "Check a receipt file: signed by the consent service and matching its ledger (exits 1 when not)."
      )

      @OptionGroup var connection: ConnectionOptions

      @Argument(help: "The receipt file (compact JWS).")
      var file: String

      func run() async throws {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw LocalFailure("cannot read \(file)") }
        let jws = text.trimmingCharacters(in: .whitespacesAndNewlines)
        let response = try await connection.withGateway { gateway in
          try await gateway.consent.verifyReceipt(.with { $0.jws = jws }, options: gateway.call)
        }
        try connection.printer.emit(response) {
          Details([("valid", Format.yesNo(response.valid)), ("problem", response.problem)]).rendered
        }
        if !response.valid { throw ExitCode(1) }
      }
    }
  }
}
