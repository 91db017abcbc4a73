import Foundation
import PrivacyKit
import PrivacyTesting
import Testing

@Suite("Configuration from the environment")
struct ConfigurationTests {
  private let valid = ["INTERNAL_TOKEN": "0123456789abcdef0123", "ALLOW_INSECURE_DEV": "1"]

  @Test("defaults follow the design's table")
  func defaults() throws {
    let configuration = try ServiceConfiguration(kind: .vault, environment: valid)
    #expect(configuration.host == "127.0.0.1")
    #expect(configuration.port == 50052)
    #expect(configuration.database == .sqlite(path: "./data/vault-service.sqlite"))
    #expect(configuration.logLevel == .info)
    #expect(configuration.metricsPort == nil)
    #expect(try ServiceConfiguration(kind: .gateway, environment: valid).port == 50050)
    #expect(try ServiceConfiguration(kind: .consent, environment: valid).port == 50051)
    #expect(try ServiceConfiguration(kind: .rights, environment: valid).port == 50053)
    #expect(try ServiceConfiguration(kind: .blocklist, environment: valid).port == 50054)
  }

  @Test("values are read and parsed")
  func parsed() throws {
    let configuration = try ServiceConfiguration(kind: .consent, environment: valid.merging([
      "GRPC_HOST": "::1", "GRPC_PORT": "0", "DATABASE_URL": "sqlite:///var/lib/consent.sqlite", "LOG_LEVEL": "DEBUG",
      "METRICS_PORT": "9100",
    ]) { _, new in new })
    #expect(configuration.host == "::1" && configuration.port == 0)
    #expect(configuration.database == .sqlite(path: "/var/lib/consent.sqlite"))
    #expect(configuration.logLevel == .debug && configuration.metricsPort == 9100)
  }

  @Test("a missing or malformed value names its variable", arguments: [
    ([:], "TLS_CERT_FILE"),
    (["INTERNAL_TOKEN": "short"], "INTERNAL_TOKEN"),
    (["GRPC_PORT": "70000"], "GRPC_PORT"),
    (["GRPC_PORT": "http"], "GRPC_PORT"),
    (["GRPC_HOST": "example.com"], "GRPC_HOST"),
    (["DATABASE_URL": "mysql://x"], "DATABASE_URL"),
    (["DATABASE_URL": "sqlite://"], "DATABASE_URL"),
    (["LOG_LEVEL": "loud"], "LOG_LEVEL"),
    (["METRICS_PORT": "0"], "METRICS_PORT"),
    (["ALLOW_INSECURE_DEV": "maybe"], "ALLOW_INSECURE_DEV"),
  ] as [([String: String], String)])
  func refused(_ overrides: [String: String], _ variable: String) {
    let environment = overrides.isEmpty ? [:] : valid.merging(overrides) { _, new in new }
    do {
      _ = try ServiceConfiguration(kind: .consent, environment: environment)
      Issue.record("accepted \(overrides)")
    } catch {
      #expect(error.variable == variable)
      #expect(error.description.hasPrefix(variable))
    }
  }

  @Test("plaintext and no token start only with ALLOW_INSECURE_DEV=1")
  func insecureDev() throws {
    let configuration = try ServiceConfiguration(kind: .consent, environment: ["ALLOW_INSECURE_DEV": "1"])
    #expect(configuration.internalToken == nil && configuration.tls == nil)
    #expect(throws: ConfigurationError.malformed(
      "TLS_CERT_FILE", "and TLS_KEY_FILE are required: no port serves plaintext outside a local run (ALLOW_INSECURE_DEV=1)")) {
      try ServiceConfiguration(kind: .gateway, environment: ["INTERNAL_TOKEN": "0123456789abcdef0123"])
    }
  }

  @Test("a secret may come from a file, but not from both places")
  func secretFile() throws {
    let directory = try TestDirectory()
    defer { directory.remove() }
    let path = directory.url.appendingPathComponent("token").path
    try "from-a-file-0123456789\n".write(toFile: path, atomically: true, encoding: .utf8)
    let configuration = try ServiceConfiguration(kind: .consent, environment: ["INTERNAL_TOKEN_FILE": path, "ALLOW_INSECURE_DEV": "1"])
    #expect(configuration.internalToken == "from-a-file-0123456789")
    #expect(throws: ConfigurationError.self) {
      try ServiceConfiguration(kind: .consent, environment: ["INTERNAL_TOKEN_FILE": path, "INTERNAL_TOKEN": "0123456789abcdef0123", "ALLOW_INSECURE_DEV": "1"])
    }
    #expect(throws: ConfigurationError.self) {
      try ServiceConfiguration(kind: .consent, environment: ["INTERNAL_TOKEN_FILE": path + ".missing", "ALLOW_INSECURE_DEV": "1"])
    }
  }
}

