import Foundation
import PrivacyKit
import PrivacyTesting
import Testing

extension LaunchedSuites {
  /// privacyctl finds a suite started with `--ephemeral-ports` through the `endpoints.json` the
  /// launcher writes to its data directory, and takes its connection options before the subcommand.
  @Suite("privacyctl finds a running suite")
  struct SuiteEndpointsTests {
    @Test("with only PRIVACY_SUITE_DIR and the key: the gateway and the dev CA from endpoints.json, health on the ephemeral health ports; the file holds no secret and goes when the suite stops")
    func findsEphemeralSuite() async throws {
      let directory = try TestDirectory()
      defer { directory.remove() }
      let suite = try await LaunchedSuite.start(in: directory)
      let data = directory.path("data")
      let file = data + "/" + SuiteEndpoints.fileName
      do {
        let key = try #require(suite.devAPIKey)
        let written = try JSONDecoder().decode(SuiteEndpoints.self, from: Data(contentsOf: URL(fileURLWithPath: file)))
        #expect(written.gateway?.address == suite.gatewayAddress)
        #expect(written.caFile == suite.caFile)
        #expect(written.services.map(\.name) == ["gateway", "consent-service", "vault-service", "subject-rights-service", "blocklist-service"])
        let text = try String(contentsOfFile: file, encoding: .utf8)
        #expect(!text.contains(String(key.split(separator: ".")[1])), "the API key's secret is in \(file)")

        // The connection options before the subcommand, in both spellings.
        let environment = [SuiteEndpoints.directoryVariable: data, "PRIVACY_API_KEY": key]
        let whoami = try await runPrivacyCtl(["--output", "json", "--timeout=20", "whoami"], environment: environment, directory: directory)
        #expect(whoami.status == 0, "\(whoami)")
        #expect(try whoami.json()["role"] as? String == "dpo")

        let health = try await runPrivacyCtl(["--output", "json", "health"], environment: [SuiteEndpoints.directoryVariable: data], directory: directory)
        #expect(health.status == 0, "\(health)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(health.standardOutput.utf8)) as? [[String: String]])
        #expect(rows.map { $0["address"] } == written.services.map(\.health))
        #expect(rows.allSatisfy { $0["status"] == "SERVING" }, "\(rows)")
        #expect(!rows.contains { $0["address"]?.hasSuffix(":51050") == true })

        // The flag still wins over the file.
        let elsewhere = try await runPrivacyCtl(
          ["whoami", "--gateway", "127.0.0.1:1", "--timeout", "3"], environment: environment, directory: directory)
        #expect(elsewhere.standardError.hasPrefix("error: UNAVAILABLE"), "\(elsewhere)")
      } catch {
        try? await suite.stop()
        throw error
      }
      try await suite.stop()
      #expect(!FileManager.default.fileExists(atPath: file))
    }
  }
}
