import ArgumentParser
import PrivacyProtocol

extension ConsentCommand {
  /// `privacyctl consent link`: a subject's personal link to the preference page.
  struct Link: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Mint a subject's preference-page link (with the one-click unsubscribe URL and mail headers), or revoke them all."
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Subject id.")
    var subject: String

    @Flag(help: "Revoke every open link of the subject instead.")
    var revoke = false

    func run() async throws {
      if revoke {
        let response = try await connection.withGateway { gateway in
          try await gateway.consent.revokePreferenceLinks(.with { $0.subjectID = subject }, options: gateway.call)
        }
        try connection.printer.emit(response) { Details([("revoked", String(response.revoked))]).rendered }
        return
      }
      let response = try await connection.withGateway { gateway in
        try await gateway.consent.createPreferenceLink(.with { $0.subjectID = subject }, options: gateway.call)
      }
      try connection.printer.emit(response) {
        Details([
          ("page", response.url), ("unsubscribe", response.unsubscribeURL), ("List-Unsubscribe", response.listUnsubscribe),
          ("List-Unsubscribe-Post", response.listUnsubscribePost), ("expires", Format.time(response.expiresAt)),
        ]).rendered
      }
    }
  }
}
