import ArgumentParser
import PrivacyProtocol

extension ConsentCommand {
  /// `privacyctl consent verify`: the consent ledger's hash chain, recomputed by the service.
  struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Recompute the consent ledger's hash chain (exits 1 and names the first broken event when it is broken)."
    )

    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
      let response = try await connection.withGateway { gateway in
        try await gateway.consent.verifyLedger(.init(), options: gateway.call)
      }
      try connection.printer.emit(response) { ChainView.details(response.verification) }
      if !response.verification.valid { throw ExitCode(1) }
    }
  }
}
