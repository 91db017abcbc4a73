import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import PrivacyBlocklist
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Testing

typealias BlocklistClient = Privacy_Blocklist_V1_BlocklistService.Client<HTTP2ClientTransport.Posix>

/// A 32-byte pepper in base64, different for each seed.
func pepper(_ seed: UInt8) -> String {
  Data((0..<32).map { UInt8($0) &* 7 &+ seed }).base64EncodedString()
}

/// A blocklist service on a temporary SQLite file and a hand-moved clock. `run` starts a real
/// server on an ephemeral port; calling it again restarts on the same file, optionally with other
/// settings (a rotated keyring).
final class BlocklistFixture: Sendable {
  let directory: TestDirectory
  let clock: TestClock
  let databasePath: String
  let baseEnvironment: [String: String]

  init(environment extra: [String: String] = [:]) throws {
    directory = try TestDirectory()
    clock = TestClock()
    databasePath = directory.path("blocklist.sqlite")
    baseEnvironment = testEnvironment(
      database: databasePath,
      extra: ["BLOCKLIST_PEPPER": pepper(1), "BLOCKLIST_DEFAULT_COUNTRY_CODE": "49"].merging(extra) { _, new in new })
  }

  deinit { directory.remove() }

  var files: [String] { SQLiteDatabase.files(of: databasePath) }

  func makeServer(_ overrides: [String: String] = [:]) async throws -> PrivacyServer {
    let environment = baseEnvironment.merging(overrides) { _, new in new }
    let service = try ServiceConfiguration(kind: .blocklist, environment: environment)
    let clock = self.clock
    return try await makeBlocklistServer(
      service: service, environment: EnvironmentReader(environment), logger: silentLogger, now: { clock.now() })
  }

  func run<T: Sendable>(
    _ overrides: [String: String] = [:],
    identity: CallerIdentity = CallerIdentity(actor: "dpo-anna", role: "dpo", requestID: "req-1"),
    _ body: (BlocklistClient) async throws -> T
  ) async throws -> T {
    try await withRunningServer(try await makeServer(overrides)) { port async throws in
      try await withTestClient(port: port, identity: identity) { client async throws in
        try await body(BlocklistClient(wrapping: client))
      }
    }
  }
}

/// Runs `body` against a fresh blocklist service.
func withBlocklistService<T: Sendable>(
  environment: [String: String] = [:], _ body: (BlocklistClient, BlocklistFixture) async throws -> T
) async throws -> T {
  let fixture = try BlocklistFixture(environment: environment)
  return try await fixture.run { client in try await body(client, fixture) }
}

func id(_ kind: Privacy_Blocklist_V1_IdentifierKind, _ value: String) -> Privacy_Blocklist_V1_Identifier {
  .with {
    $0.kind = kind
    $0.value = value
  }
}

extension BlocklistClient {
  @discardableResult
  func add(
    _ identifiers: [Privacy_Blocklist_V1_Identifier], reason: String = "erasure request r-1, art 17", requestID: String = "r-1"
  ) async throws -> Privacy_Blocklist_V1_AddResponse {
    try await add(.with {
      $0.identifiers = identifiers
      $0.reason = reason
      $0.requestID = requestID
    })
  }

  func check(_ identifiers: [Privacy_Blocklist_V1_Identifier]) async throws -> Privacy_Blocklist_V1_CheckResponse {
    try await check(.with { $0.identifiers = identifiers })
  }

  @discardableResult
  func remove(_ identifiers: [Privacy_Blocklist_V1_Identifier], reason: String = "re-entry through own webform") async throws
    -> Privacy_Blocklist_V1_RemoveResponse
  {
    try await remove(.with {
      $0.identifiers = identifiers
      $0.reason = reason
    })
  }

  /// Every entry, removed ones included, newest first.
  func allEntries() async throws -> [Privacy_Blocklist_V1_Entry] {
    var entries: [Privacy_Blocklist_V1_Entry] = []
    var token = ""
    repeat {
      let page = try await list(.with {
        $0.filter = .with { $0.includeRemoved = true }
        $0.pageSize = 1000
        $0.pageToken = token
      })
      entries += page.entries
      token = page.nextPageToken
    } while !token.isEmpty
    return entries
  }
}
