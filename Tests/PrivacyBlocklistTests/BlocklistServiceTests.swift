import Foundation
import GRPCCore
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Testing

@Suite("Blocklist: add, check, remove, list")
struct BlocklistServiceTests {
  @Test("an added identifier matches however it is written, with kind, reason, time and request id")
  func addAndCheck() async throws {
    try await withBlocklistService { client, fixture async throws in
      let added = try await client.add([id(.email, "Anna.Schmidt@Example.com"), id(.phone, "+49 30 1234567")])
      #expect(added.addedCount == 2 && added.alreadyPresentCount == 0)

      let answer = try await client.check([
        id(.email, "  anna.schmidt@example.COM"), id(.custom, "nobody"), id(.phone, "030 123 45 67"),
        id(.email, "anna.schmidt+x@example.com"),
      ])
      #expect(answer.anyMatched)
      #expect(answer.matches.map(\.index) == [0, 1, 2, 3])
      #expect(answer.matches.map(\.matched) == [true, false, true, false])
      #expect(answer.matches.map(\.kind) == [.email, .custom, .phone, .email])
      let first = answer.matches[0]
      #expect(first.reason == "erasure request r-1, art 17" && first.requestID == "r-1")
      #expect(first.addedAt.date == fixture.clock.now().microsecondPrecision && !first.entryID.isEmpty)
      let miss = answer.matches[1]
      #expect(miss.entryID.isEmpty && miss.reason.isEmpty && !miss.hasAddedAt && miss.requestID.isEmpty)

      // The same string under another kind is another identifier.
      #expect(!(try await client.check([id(.custom, "anna.schmidt@example.com")]).anyMatched))
    }
  }

  @Test("adding an identifier twice keeps its first entry; a repeat within one call counts as present")
  func addTwice() async throws {
    try await withBlocklistService { client, fixture async throws in
      try await client.add([id(.email, "ann@example.com")], reason: "first", requestID: "r-1")
      fixture.clock.advance(by: 60)
      let again = try await client.add(
        [id(.email, "ANN@example.com"), id(.nationalID, "ab-123"), id(.nationalID, "AB 123")], reason: "second", requestID: "r-2")
      #expect(again.addedCount == 1 && again.alreadyPresentCount == 2)
      let entries = try await client.allEntries()
      #expect(entries.count == 2)
      let match = try await client.check([id(.email, "ann@example.com")]).matches[0]
      #expect(match.reason == "first" && match.requestID == "r-1")
    }
  }

  @Test("an identifier that cannot be normalized refuses the whole call, naming its position but not its value")
  func invalidIdentifier() async throws {
    try await withBlocklistService { client, _ async throws in
      let secret = "no-at-sign.secret-person.example.com"
      let error = await capturedRPCError {
        try await client.add([id(.email, "ok@example.com"), id(.phone, "+49 30 1234567"), id(.custom, "c"), id(.email, secret)])
      }
      #expect(error?.code == .invalidArgument)
      #expect(error?.message == "identifiers[3]: email has no '@'")
      #expect(error?.errorInfoReason == "INVALID_IDENTIFIER")
      let info = try #require(try error?.unpackGoogleRPCStatus()?.details.compactMap(\.errorInfo).first)
      #expect(info.domain == "privacy.blocklist.v1" && info.metadata["index"] == "3" && info.metadata["kind"] == "IDENTIFIER_KIND_EMAIL")
      #expect(!(error?.description.contains("secret-person") ?? true))
      #expect(try await client.allEntries().isEmpty)

      let check = await capturedRPCError { try await client.check([id(.phone, "+49 30 12")]) }
      #expect(check?.code == .invalidArgument && check?.errorInfoReason == "INVALID_IDENTIFIER")
      #expect(check?.message.hasPrefix("identifiers[0]: phone") == true)
    }
  }

  @Test("bad calls are INVALID_ARGUMENT and change nothing")
  func badCalls() async throws {
    try await withBlocklistService { client, _ async throws in
      try await client.add([id(.email, "kept@example.com")])
      let before = try await client.allEntries()
      let tooMany = (0...1000).map { id(.custom, "shop:\($0)") }
      let calls: [(String, () async throws -> Void)] = [
        ("no identifiers", { try await client.add([]) }),
        ("too many", { try await client.add(tooMany) }),
        ("unspecified kind", { try await client.add([id(.unspecified, "x")]) }),
        ("no reason", { try await client.add([id(.custom, "shop:1")], reason: " ") }),
        ("long reason", { try await client.add([id(.custom, "shop:1")], reason: String(repeating: "r", count: 501)) }),
        ("long request id", { try await client.add([id(.custom, "shop:1")], requestID: String(repeating: "r", count: 129)) }),
        ("long value", { try await client.add([id(.custom, String(repeating: "v", count: 513))]) }),
        ("check none", { _ = try await client.check([]) }),
        ("check too many", { _ = try await client.check(tooMany) }),
        ("remove without reason", { try await client.remove([id(.email, "kept@example.com")], reason: "") }),
        ("remove invalid", { try await client.remove([id(.email, "kept@example.com"), id(.email, "broken")]) }),
        ("list bad kind", { _ = try await client.list(.with { $0.filter = .with { $0.kinds = [.unspecified] } }) }),
        ("list negative size", { _ = try await client.list(.with { $0.pageSize = -1 }) }),
        ("list bad token", { _ = try await client.list(.with { $0.pageToken = "garbage" }) }),
      ]
      for (name, call) in calls {
        let error = await capturedRPCError { try await call() }
        #expect(error?.code == .invalidArgument, "\(name)")
      }
      #expect(try await client.allEntries() == before)
      #expect(try await client.check([id(.email, "kept@example.com")]).anyMatched)
    }
  }

  @Test("a check takes up to 1,000 identifiers")
  func bigCheck() async throws {
    try await withBlocklistService { client, _ async throws in
      try await client.add([id(.custom, "shop:999")])
      let answer = try await client.check((0..<1000).map { id(.custom, "shop:\($0)") })
      #expect(answer.matches.count == 1000 && answer.matches.filter(\.matched).map(\.index) == [999])
    }
  }

  @Test("removal keeps the entry as history without its hash; it never matches again; re-adding makes a new entry")
  func remove() async throws {
    try await withBlocklistService { client, fixture async throws in
      try await client.add([id(.email, "back@example.com"), id(.phone, "+49 171 5550000")])
      fixture.clock.advance(by: 3600)
      let removed = try await client.remove([id(.email, "BACK@example.com"), id(.email, "back@example.com"), id(.custom, "never")])
      #expect(removed.removedCount == 1 && removed.notPresentCount == 2)
      #expect(!(try await client.check([id(.email, "back@example.com")]).anyMatched))
      #expect(try await client.check([id(.phone, "+491715550000")]).anyMatched)

      let active = try await client.list(.with { _ in }).entries
      #expect(active.count == 1 && active[0].kind == .phone)
      let all = try await client.allEntries()
      let gone = try #require(all.first { $0.removed })
      #expect(gone.kind == .email && gone.removalReason == "re-entry through own webform" && gone.removedBy == "dpo-anna")
      #expect(gone.removedAt.date == fixture.clock.now().microsecondPrecision && gone.hashPrefix.count == 8)
      let again = try await client.remove([id(.email, "back@example.com")])
      #expect(again.removedCount == 0 && again.notPresentCount == 1)

      fixture.clock.advance(by: 60)
      let readded = try await client.add([id(.email, "back@example.com")], reason: "erased again", requestID: "r-9")
      #expect(readded.addedCount == 1)
      #expect(try await client.allEntries().count == 3)
      #expect(try await client.check([id(.email, "back@example.com")]).matches[0].requestID == "r-9")
    }
  }

  @Test("List pages newest first, filters by kind and request id, and binds its token to the filter")
  func list() async throws {
    try await withBlocklistService { client, fixture async throws in
      for index in 0..<5 {
        try await client.add([id(index % 2 == 0 ? .email : .custom, "p\(index)@example.com")], requestID: "r-\(index % 2)")
        fixture.clock.advance(by: 10)
      }
      let first = try await client.list(.with { $0.pageSize = 2 })
      #expect(first.entries.count == 2 && !first.nextPageToken.isEmpty)
      let second = try await client.list(.with {
        $0.pageSize = 2
        $0.pageToken = first.nextPageToken
      })
      let third = try await client.list(.with {
        $0.pageSize = 2
        $0.pageToken = second.nextPageToken
      })
      let times = (first.entries + second.entries + third.entries).map { $0.addedAt.date }
      #expect(times.count == 5 && times == times.sorted(by: >) && third.nextPageToken.isEmpty)
      let entry = first.entries[0]
      #expect(entry.pepperID == "default" && entry.addedBy == "dpo-anna" && entry.hashPrefix.count == 8 && !entry.removed)

      let emails = try await client.list(.with { $0.filter = .with { $0.kinds = [.email] } }).entries
      #expect(emails.count == 3 && emails.allSatisfy { $0.kind == .email })
      let ofRequest = try await client.list(.with { $0.filter = .with { $0.requestID = "r-1" } }).entries
      #expect(ofRequest.count == 2 && ofRequest.allSatisfy { $0.requestID == "r-1" })
      let error = await capturedRPCError {
        try await client.list(.with {
          $0.filter = .with { $0.kinds = [.email] }
          $0.pageToken = first.nextPageToken
        })
      }
      #expect(error?.code == .invalidArgument)
    }
  }

  @Test("no identifier value reaches the database file or its WAL, in clear or normalized")
  func nothingInClear() async throws {
    try await withBlocklistService { client, fixture async throws in
      let values: [(Privacy_Blocklist_V1_IdentifierKind, String, String)] = [
        (.email, "Zebediah.Quillfeather@Unusual-Domain.example", "zebediah.quillfeather@unusual-domain.example"),
        (.phone, "+49 176 98765432", "+4917698765432"),
        (.nationalID, "xq-7781-zz-9", "XQ7781ZZ9"),
        (.custom, "crm:Kundennummer-5550123", "crm:Kundennummer-5550123"),
      ]
      try await client.add(values.map { id($0.0, $0.1) })
      _ = try await client.check(values.map { id($0.0, $0.1) })
      try await client.add([id(.email, "Removed.Person@Unusual-Domain.example")])
      try await client.remove([id(.email, "Removed.Person@Unusual-Domain.example")])
      for (_, written, normalized) in values {
        for needle in [written, normalized] {
          #expect(!filesContain(fixture.files, needle), "\(needle)")
        }
      }
      for needle in ["Quillfeather", "quillfeather", "98765432", "XQ7781", "xq-7781", "Kundennummer", "removed.person", "Removed.Person"] {
        #expect(!filesContain(fixture.files, needle), "\(needle)")
      }
    }
  }

  @Test("entries survive a restart")
  func restart() async throws {
    let fixture = try BlocklistFixture()
    try await fixture.run { client async throws in
      try await client.add([id(.email, "persist@example.com"), id(.custom, "shop:1")])
      try await client.remove([id(.custom, "shop:1")])
    }
    try await fixture.run { client async throws in
      let answer = try await client.check([id(.email, "persist@example.com"), id(.custom, "shop:1")])
      #expect(answer.matches.map(\.matched) == [true, false])
      #expect(try await client.allEntries().count == 2)
    }
  }
}
