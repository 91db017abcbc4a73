public import ArgumentParser
import Foundation
import GRPCCore

/// The admin command-line client of the gateway.
public struct PrivacyCtl: AsyncParsableCommand {
  public static let configuration = CommandConfiguration(
    commandName: "privacyctl",
    abstract: "Administer the privacy suite through its gateway.",
    discussion: """
      Connects to $PRIVACY_GATEWAY_ADDR (default 127.0.0.1:50050) with the API key in \
      $PRIVACY_API_KEY (<id>.<secret>); --gateway and --api-key override them. Without an address, \
      a privacy-suite running in $PRIVACY_SUITE_DIR (default ./data) is found through its \
      endpoints.json, dev CA included. Tables by default, --output json for scripts. The connection \
      options (--gateway, --api-key, --timeout, --output, --ca-file, --plaintext) go before or after \
      the subcommand. A failed call prints `error: <STATUS>: <message>` on standard error \
      and exits 1; a usage error exits 64.
      """,
    subcommands: [
      StatusCommand.self, WhoAmICommand.self, PurposesCommand.self, FieldsCommand.self, ConsentCommand.self,
      OptInCommand.self, RecordsCommand.self, ContactsCommand.self, SubjectsCommand.self, RequestsCommand.self,
      BlocklistCommand.self, AuditCommand.self, RetentionCommand.self, ReportCommand.self, HealthCommand.self, OutboxCommand.self,
    ]
  )

  public init() {}

  /// Parses `arguments`, runs the chosen command and exits with its status.
  public static func run(_ arguments: ArraySlice<String>) async {
    do {
      var command = try parseAsRoot(GlobalOptions.movedBehindSubcommand(Array(arguments)))
      if var asyncCommand = command as? any AsyncParsableCommand {
        try await asyncCommand.run()
      } else {
        try command.run()
      }
    } catch let error as RPCError {
      Printer.writeError(Failure.line(for: error) + "\n")
      Foundation.exit(Failure.rpcExitCode)
    } catch let error as LocalFailure {
      Printer.writeError("error: \(error)\n")
      Foundation.exit(Failure.rpcExitCode)
    } catch {
      exit(withError: error)
    }
  }
}
