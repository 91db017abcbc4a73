import ArgumentParser
import PrivacyProtocol

/// `privacyctl whoami`: the caller's identity and grants according to the gateway.
struct WhoAmICommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "whoami",
    abstract: "Show who the gateway takes the caller for: actor, role, methods and field access."
  )

  @OptionGroup var connection: ConnectionOptions

  func run() async throws {
    let response = try await connection.withGateway { gateway in
      try await gateway.admin.whoAmI(.init(), options: gateway.call)
    }
    try connection.printer.emit(response) {
      var text = Details([
        ("actor", response.actor),
        ("role", response.role),
        ("credential", "\(Format.name(response.credentialKind)) \(response.credentialID)"),
        ("expires", response.hasCredentialExpiresAt ? Format.time(response.credentialExpiresAt) : "never"),
        ("blocklist override", Format.yesNo(response.canOverrideBlocklist)),
      ]).rendered
      text += "\n" + Table(header: ["METHODS"], rows: response.methods.map { [$0] }).rendered
      text += "\n" + Table(
        header: ["SELECTOR", "NAME", "ACCESS"],
        rows: response.fieldAccess.map { [Format.name($0.selectorKind), $0.selector, Format.name($0.level)] }
      ).rendered
      return text
    }
  }
}
