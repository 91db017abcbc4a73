import ArgumentParser
import Foundation
import PrivacyKit

/// `privacyctl health [ADDRESS...]`: asks each service's grpc.health.v1 how it is.
struct HealthCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "health",
    abstract: "Check the health of services (default: the health-only ports of the privacy-suite running in $PRIVACY_SUITE_DIR or ./data, else 127.0.0.1:51050-51054)."
  )

  @Argument(help: "Addresses as host:port.")
  var addresses: [String] = []

  @Option(help: "Output format: table or json.")
  var output: OutputFormat = .table

  @OptionGroup var security: SecurityOptions

  func run() async throws {
    let targets: [(String, ServiceAddress)]
    if addresses.isEmpty, let suite = SuiteEndpoints.running() {
      targets = try suite.services.map { service in
        guard let text = service.health, let address = ServiceAddress(text) else {
          throw ValidationError("\(SuiteEndpoints.fileName) names no health port for \(service.name); give addresses")
        }
        return (service.name, address)
      }
    } else if addresses.isEmpty {
      targets = ServiceKind.suite.map { ($0.executableName, ServiceAddress(host: "127.0.0.1", port: $0.defaultHealthPort)) }
    } else {
      targets = try addresses.map { text in
        guard let address = ServiceAddress(text) else { throw ValidationError("not a host:port address: \(text)") }
        return (text, address)
      }
    }
    var results: [(name: String, address: ServiceAddress, outcome: HealthProbe.Outcome)] = []
    // The health-only ports speak plaintext; named addresses are the services' own, over TLS.
    let tls = addresses.isEmpty ? nil : security.tls()
    for (name, address) in targets {
      results.append((name, address, await HealthProbe.check(address, tls: tls)))
    }
    switch output {
    case .table:
      let rows = results.map { [$0.name, $0.address.description, $0.outcome.description] }
      print(Table(header: ["SERVICE", "ADDRESS", "STATUS"], rows: rows).rendered, terminator: "")
    case .json:
      let objects = results.map { ["service": $0.name, "address": $0.address.description, "status": $0.outcome.description] }
      let data = try JSONSerialization.data(withJSONObject: objects, options: [.prettyPrinted, .sortedKeys])
      print(String(decoding: data, as: UTF8.self))
    }
    if results.contains(where: { $0.outcome != .serving }) { throw ExitCode(1) }
  }
}

