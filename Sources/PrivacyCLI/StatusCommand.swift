import ArgumentParser
import PrivacyProtocol

/// `privacyctl status`: each backend's health as the gateway sees it.
struct StatusCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "status",
    abstract: "Show the health of each backend behind the gateway (exits 1 when one is not serving)."
  )

  @OptionGroup var connection: ConnectionOptions

  func run() async throws {
    let response = try await connection.withGateway { gateway in
      try await gateway.admin.getBackendHealth(.init(), options: gateway.call)
    }
    try connection.printer.emit(response) {
      Table(
        header: ["BACKEND", "ADDRESS", "STATUS", "LATENCY", "ERROR"],
        rows: response.backends.map { backend in
          [
            backend.name, backend.address, Format.name(backend.status),
            backend.hasLatency ? Format.milliseconds(backend.latency) : "-", backend.error,
          ]
        }
      ).rendered + (response.hasConsentCopy ? "\n" + Self.describe(response.consentCopy) : "")
    }
    if response.backends.contains(where: { $0.status != .serving }) { throw ExitCode(1) }
  }

  /// One line on the gateway's copy of the consent ledger.
  static func describe(_ copy: Privacy_Gateway_V1_ConsentCopyState) -> String {
    let caughtUp = copy.hasSinceCaughtUp ? "caught up \(Format.milliseconds(copy.sinceCaughtUp)) ago" : "not caught up yet"
    return "consent copy: \(copy.answering ? "answering checks" : "not answering (checks go to the consent service)"), "
      + "\(copy.sequence) events, \(copy.subjects) subjects, \(caughtUp)"
  }
}
