import Foundation
import PrivacyBlocklist
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Testing

@Suite("Pepper keyring and configuration")
struct KeyringTests {
  @Test("after a rotation old entries still match, new ones use the active pepper; dropping a pepper stops its entries matching")
  func rotation() async throws {
    let fixture = try BlocklistFixture()
    try await fixture.run { client async throws in
      _ = try await client.add([id(.email, "old@example.com"), id(.email, "legacy@example.com")])
    }
    let rotated = ["BLOCKLIST_PEPPER": "k2:\(pepper(2)),default:\(pepper(1))"]
    try await fixture.run(rotated) { client async throws in
      #expect(try await client.check([id(.email, "old@example.com")]).anyMatched)
      let again = try await client.add([id(.email, "old@example.com"), id(.email, "new@example.com")])
      #expect(again.addedCount == 1 && again.alreadyPresentCount == 1)
      let entries = try await client.allEntries()
      #expect(Set(entries.map(\.pepperID)) == ["default", "k2"])
      #expect(entries.filter { $0.pepperID == "k2" }.count == 1)
      // Removal finds entries under any configured pepper.
      let removed = try await client.remove([id(.email, "old@example.com")])
      #expect(removed.removedCount == 1)
      try await client.add([id(.email, "old2@example.com")])
    }
    try await fixture.run(["BLOCKLIST_PEPPER": "k2:\(pepper(2))"]) { client async throws in
      #expect(try await client.check([id(.email, "new@example.com")]).anyMatched)
      #expect(try await client.check([id(.email, "old2@example.com")]).anyMatched)
      // Entries hashed under the dropped pepper no longer match.
      #expect(!(try await client.check([id(.email, "legacy@example.com")]).anyMatched))
    }
  }

  @Test("the launcher's bare pepper file works")
  func pepperFile() async throws {
    let directory = try TestDirectory()
    defer { directory.remove() }
    let path = directory.path("pepper")
    try Data((pepper(5) + "\n").utf8).write(to: URL(fileURLWithPath: path))
    let fixture = try BlocklistFixture()
    try await fixture.run(["BLOCKLIST_PEPPER": "", "BLOCKLIST_PEPPER_FILE": path]) { client async throws in
      try await client.add([id(.custom, "x:1")])
      #expect(try await client.allEntries().first?.pepperID == "default")
    }
  }

  @Test("a missing or malformed setting names its variable", arguments: [
    (["BLOCKLIST_PEPPER": ""], "BLOCKLIST_PEPPER"),
    (["BLOCKLIST_PEPPER": "c2hvcnQ="], "BLOCKLIST_PEPPER"),
    (["BLOCKLIST_PEPPER": "not base64 at all!"], "BLOCKLIST_PEPPER"),
    (["BLOCKLIST_PEPPER": "a:\(pepper(1)),a:\(pepper(2))"], "BLOCKLIST_PEPPER"),
    (["BLOCKLIST_PEPPER": "a:\(pepper(1)),\(pepper(2))"], "BLOCKLIST_PEPPER"),
    (["BLOCKLIST_PEPPER": "bad id!:\(pepper(1))"], "BLOCKLIST_PEPPER"),
    (["BLOCKLIST_PEPPER": "", "BLOCKLIST_PEPPER_FILE": "/nonexistent/pepper"], "BLOCKLIST_PEPPER_FILE"),
    (["BLOCKLIST_DEFAULT_COUNTRY_CODE": "049"], "BLOCKLIST_DEFAULT_COUNTRY_CODE"),
    (["BLOCKLIST_DEFAULT_COUNTRY_CODE": "1234"], "BLOCKLIST_DEFAULT_COUNTRY_CODE"),
    (["DATABASE_URL": "postgres://u:p@localhost"], "DATABASE_URL"),
  ])
  func configurationErrors(overrides: [String: String], variable: String) async throws {
    let fixture = try BlocklistFixture()
    do {
      _ = try await fixture.makeServer(overrides)
      Issue.record("expected a configuration error naming \(variable)")
    } catch let error as ConfigurationError {
      #expect(error.variable == variable)
      #expect(!error.description.contains(pepper(1)) && !error.description.contains(pepper(2)))
    }
  }

  @Test("a bare pepper file variable is named when its content is malformed")
  func malformedFile() async throws {
    let directory = try TestDirectory()
    defer { directory.remove() }
    let path = directory.path("pepper")
    try Data("too-short".utf8).write(to: URL(fileURLWithPath: path))
    let fixture = try BlocklistFixture()
    do {
      _ = try await fixture.makeServer(["BLOCKLIST_PEPPER": "", "BLOCKLIST_PEPPER_FILE": path])
      Issue.record("expected a configuration error")
    } catch let error as ConfigurationError {
      #expect(error.variable == "BLOCKLIST_PEPPER_FILE")
    }
  }
}
