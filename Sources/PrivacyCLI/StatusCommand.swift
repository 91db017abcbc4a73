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
      ).rendered
    }
    if response.backends.contains(where: { $0.status != .serving }) { throw ExitCode(1) }
  }
}

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
