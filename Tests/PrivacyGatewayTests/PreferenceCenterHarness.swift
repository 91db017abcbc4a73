import Foundation
import Logging
import PrivacyGateway
import PrivacyKit
import PrivacyPreferenceCenter
import PrivacyProtocol
import PrivacyTesting
import Testing

/// The preference center in-process in front of a test gateway, reached over real HTTP with curl;
/// and the subjects and link its tests and the link-binding tests start from.
enum PreferenceCenterHarness {
  /// Runs the page against the gateway on `gatewayPort`; `body` gets its base URL.
  static func run<T: Sendable>(
    gatewayPort: Int, logger: Logger = silentLogger, extra: [String: String] = [:], _ body: (String) async throws -> T
  ) async throws -> T {
    let directory = try TestDirectory()
    defer { directory.remove() }
    let keyFile = directory.path("page.key")
    try apiKey("preference-center").write(toFile: keyFile, atomically: true, encoding: .utf8)
    var environment = [
      "PREFERENCE_HOST": "127.0.0.1", "PREFERENCE_PORT": "0", "PUBLIC_BASE_URL": "https://privacy.example.com",
      "PRIVACY_GATEWAY_ADDR": "127.0.0.1:\(gatewayPort)", "PREFERENCE_API_KEY_FILE": keyFile, "ALLOW_INSECURE_DEV": "1",
      // Longer than the gateway's backend deadline in tests (20 s): the page outwaits a slow start.
      "PREFERENCE_GATEWAY_TIMEOUT_MS": "30000",
    ]
    environment.merge(extra) { _, new in new }
    let server = try await makePreferenceCenter(configuration: try PreferenceCenterConfiguration(environment: environment), logger: logger)
    return try await withRunningService(server, address: server.address) { port in try await body("http://127.0.0.1:\(port)") }
  }

  /// Seeds the backends (fields, purposes, a mailing list, the test record, a newsletter consent
  /// for the owner and for another subject) and mints a link for the owner as the mailer would.
  static func prepare(gateway port: Int, _ backends: [BackendKind: Int]) async throws -> String {
    try await WorkflowData.seed(backends)
    try await TestData.seed(vaultPort: backends[.vault]!)
    try await withTestClient(port: backends[.consent]!) { client async throws in
      let consent = ConsentClient(wrapping: client)
      _ = try await consent.upsertMailingList(.with { $0.list = .with { $0.listID = "news"; $0.name = "Monthly news" } })
      for subject in [TestData.subject, "c-2002"] {
        _ = try await consent.recordConsent(.with {
          $0.subjectID = subject
          $0.purposeID = "newsletter"
          $0.decision = .granted
          $0.evidence = .with { $0.channel = .webform }
        })
      }
    }
    let minted = try await asRole("service", port: port) { client async throws in
      try await ConsentClient(wrapping: client).createPreferenceLink(.with { $0.subjectID = TestData.subject })
    }
    #expect(minted.listUnsubscribePost == "List-Unsubscribe=One-Click")
    return try #require(minted.url.split(separator: "/").last.map(String.init))
  }
}

/// One HTTP exchange made with curl, the stock client.
struct HTTPReply {
  let status: Int
  /// Header names lower-cased.
  let headers: [String: String]
  let body: String

  /// The value of the hidden input `name` in the body's first form that has one.
  func hiddenField(_ name: String) -> String? {
    guard let range = body.range(of: "name=\"\(name)\" value=\"") else { return nil }
    let rest = body[range.upperBound...]
    return rest.firstIndex(of: "\"").map { String(rest[..<$0]) }
  }

  /// The value of the hidden input `name` in the form posting to `action`.
  func hiddenField(_ name: String, inFormTo action: String) -> String? {
    guard let form = body.range(of: "action=\"\(action)\"") else { return nil }
    let rest = String(body[form.upperBound...])
    let end = rest.range(of: "</form>").map { rest[..<$0.lowerBound] } ?? rest[...]
    return HTTPReply(status: status, headers: headers, body: String(end)).hiddenField(name)
  }
}

/// Runs on a thread of its own: a blocking wait on the cooperative pool (two threads on two
/// cores) would starve the in-process servers curl is talking to.
func curl(_ url: String, method: String = "GET", headers: [String: String] = [:], form: String? = nil) async throws -> HTTPReply {
  try await withCheckedThrowingContinuation { continuation in
    DispatchQueue.global().async {
      continuation.resume(with: Result { try blockingCurl(url, method: method, headers: headers, form: form) })
    }
  }
}

private func blockingCurl(_ url: String, method: String, headers: [String: String], form: String?) throws -> HTTPReply {
  var arguments = ["-s", "-i", "--max-time", "20", "-X", method]
  for (name, value) in headers { arguments += ["-H", "\(name): \(value)"] }
  if let form { arguments += ["-H", "Content-Type: application/x-www-form-urlencoded", "--data-binary", form] }
  let result = try runCommand("/usr/bin/curl", arguments + [url])
  let text = String(decoding: result.output, as: UTF8.self)
  guard let split = text.range(of: "\r\n\r\n") else {
    throw CurlFailed(output: "\(method) \(URL(string: url)?.path ?? ""): exit \(result.status) \(text)")
  }
  let head = text[..<split.lowerBound].split(separator: "\r\n")
  guard let statusLine = head.first, let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "") else {
    throw CurlFailed(output: text)
  }
  var fields: [String: String] = [:]
  for line in head.dropFirst() {
    guard let colon = line.firstIndex(of: ":") else { continue }
    fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
  }
  return HTTPReply(status: status, headers: fields, body: String(text[split.upperBound...]))
}

struct CurlFailed: Error, CustomStringConvertible {
  let output: String
  var description: String { "curl gave no HTTP answer: \(output.prefix(300))" }
}

/// Runs a command on the PATH on a thread of its own; its standard output, or an error naming
/// its exit status and standard error.
func runProcess(_ command: [String]) async throws -> String {
  try await withCheckedThrowingContinuation { continuation in
    DispatchQueue.global().async {
      continuation.resume(with: Result {
        let result = try runCommand("/usr/bin/env", command)
        guard result.status == 0 else {
          throw CommandFailed(description: "\(command[0]) exited \(result.status): \(String(decoding: result.errors, as: UTF8.self))")
        }
        return String(decoding: result.output, as: UTF8.self)
      })
    }
  }
}

struct CommandFailed: Error, CustomStringConvertible {
  let description: String
}
