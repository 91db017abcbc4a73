import Foundation
import PrivacyKit
import PrivacyTesting
import Testing
import Yams

extension LaunchedSuites {
  /// docker/compose.yaml as deployed, without Docker: `docker/make-secrets` makes the certificates
  /// and secrets with openssl, and each service runs with the environment the compose file gives
  /// it (its secrets' paths mapped to the made files, loopback ephemeral ports for the fixed ones).
  /// The gateway reaches each backend over mutual TLS, verifying the backend's compose host name,
  /// and privacyctl reaches the gateway with the printed API key and the CA.
  @Suite("docker/compose.yaml")
  struct ComposeTests {
    static let docker = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().appendingPathComponent("docker")
    static let backends = ["consent", "vault", "rights", "blocklist"]

    struct Compose {
      let services: [String: [String: Any]]
      let secretFiles: [String: String]

      init(file: String = "compose.yaml", secretsDirectory: String) throws {
        let text = try String(contentsOf: ComposeTests.docker.appendingPathComponent(file), encoding: .utf8)
        let document = try #require(try Yams.load(yaml: text) as? [String: Any])
        services = try #require(document["services"] as? [String: [String: Any]])
        let secrets = try #require(document["secrets"] as? [String: [String: String]])
        secretFiles = try secrets.mapValues { entry in
          let file = try #require(entry["file"])
          return secretsDirectory + "/" + file.replacingOccurrences(of: "./secrets/", with: "")
        }
      }

      /// The service's command and environment, with its secrets and volume mapped to `directory`,
      /// loopback ephemeral ports, and the backend addresses given.
      func process(_ name: String, directory: TestDirectory, extra: [String: String] = [:]) throws -> RunningProcess {
        let service = try #require(services[name])
        let command = try #require((service["command"] as? [String])?.first)
        let declared = try #require(service["environment"] as? [String: Any]).mapValues { "\($0)" }
        let mounted = Set(try #require(service["secrets"] as? [String]))
        var environment: [String: String] = [:]
        for (key, value) in declared {
          if value.hasPrefix("/run/secrets/") {
            let secret = String(value.dropFirst("/run/secrets/".count))
            #expect(mounted.contains(secret), "\(name) reads \(secret) without mounting it")
            environment[key] = try #require(secretFiles[secret])
          } else {
            environment[key] = value.replacingOccurrences(of: "/var/lib/privacy", with: directory.url.path)
          }
        }
        environment.merge(["GRPC_HOST": "127.0.0.1", "GRPC_PORT": "0", "HEALTH_PORT": "0"].merging(extra) { _, new in new }) { _, new in new }
        return try RunningProcess(command, environment: environment)
      }
    }

    @Test("make-secrets and the compose environment: TLS everywhere, the gateway admitted to each backend by name, no plaintext switch")
    func composeRunsWithMutualTLS() async throws {
      let directory = try TestDirectory()
      defer { directory.remove() }
      let secrets = directory.path("secrets")
      let make = try RunningProcess(
        executable: Self.docker.appendingPathComponent("make-secrets"), arguments: [secrets], environment: [:])
      #expect(try await make.waitForExit(timeout: .seconds(60)) == 0, "\(make.standardError)")
      let printed = make.standardOutput
      let key = try #require(printed.split(whereSeparator: \.isWhitespace).first { $0.hasPrefix("PRIVACY_API_KEY=") }?.dropFirst("PRIVACY_API_KEY=".count))
      let caFile = secrets + "/ca.pem"

      let compose = try Compose(secretsDirectory: secrets)
      for (name, service) in compose.services {
        let environment = try #require(service["environment"] as? [String: Any])
        #expect(environment["ALLOW_INSECURE_DEV"] == nil && environment["INTERNAL_TOKEN_FILE"] == nil, "\(name)")
      }

      var processes: [RunningProcess] = []
      defer { for process in processes { process.signal(SIGKILL) } }
      /// The backends a gateway configured as in compose finds SERVING, with `backend` at
      /// `address`, verified under `serverName`, and the other backends absent.
      func serving(_ backend: String, at address: ServiceAddress, serverName: String) async throws -> [String] {
        var addresses = Dictionary(uniqueKeysWithValues: Self.backends.map { ($0.uppercased() + "_SERVICE_ADDR", "127.0.0.1:1") })
        addresses[backend.uppercased() + "_SERVICE_ADDR"] = address.description
        let gateway = try compose.process(
          "gateway", directory: directory, extra: addresses.merging(["BACKEND_TLS_SERVER_NAME": serverName]) { _, new in new })
        processes.append(gateway)
        let gatewayAddress = try await gateway.listeningAddress()
        let status = try await runPrivacyCtl(
          ["status", "--output", "json"],
          environment: ["PRIVACY_GATEWAY_ADDR": gatewayAddress.description, "PRIVACY_CA_FILE": caFile, "PRIVACY_API_KEY": String(key)],
          directory: directory)
        gateway.signal(SIGTERM)
        _ = try await gateway.waitForExit()
        let backends = try #require(try? status.json()["backends"] as? [[String: Any]], "\(status)")
        return backends.filter { ($0["status"] as? String) == "SERVING_STATUS_SERVING" }.compactMap { $0["name"] as? String }
      }

      for backend in Self.backends {
        let process = try compose.process(backend, directory: directory)
        processes.append(process)
        let address = try await process.listeningAddress()
        #expect(try await serving(backend, at: address, serverName: backend) == [backend])
        if backend == "consent" {
          // The name is checked: consent's certificate does not name vault.
          #expect(try await serving(backend, at: address, serverName: "vault") == [])
        }
      }
    }
  }
}
