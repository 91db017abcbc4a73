import Foundation
import GRDB
import PrivacyProtocol
import PrivacyTesting
import Testing

/// The stored counts, digest (base64) -> count, from whichever database the service runs on.
func storedCounts(_ fixture: VaultFixture) async throws -> [String: Int] {
  if VaultFixture.onPostgres {
    let rows = try await PostgresTestDatabase.rows(
      try await fixture.postgresDatabase(), "SELECT encode(digest, 'base64'), count::text FROM vault_quasi_identifier_counts")
    return Dictionary(uniqueKeysWithValues: rows.map { ($0[0] ?? "", Int($0[1] ?? "") ?? -1) })
  }
  return try await fixture.database().read { db in
    var counts: [String: Int] = [:]
    for row in try Row.fetchAll(db, sql: "SELECT digest, count FROM quasi_identifier_counts") {
      counts[(row["digest"] as Data).base64EncodedString()] = row["count"]
    }
    return counts
  }
}

/// Checks the kept counts against counts built anew: forgets them and restarts the service,
/// whose start builds them from every stored value.
func expectCountsMatchRebuild(_ fixture: VaultFixture, sourceLocation: SourceLocation = #_sourceLocation) async throws {
  let kept = try await storedCounts(fixture)
  if VaultFixture.onPostgres {
    let url = try await fixture.postgresDatabase()
    try await PostgresTestDatabase.administer(url, "DELETE FROM vault_quasi_identifier_counts")
    try await PostgresTestDatabase.administer(url, "DELETE FROM vault_settings")
  } else {
    try fixture.execute("DELETE FROM quasi_identifier_counts; DELETE FROM vault_settings")
  }
  try await fixture.run { client in _ = try await client.allFields() }
  let rebuilt = try await storedCounts(fixture)
  #expect(!rebuilt.isEmpty, sourceLocation: sourceLocation)
  let differing = Set(kept.keys).union(rebuilt.keys).filter { kept[$0] != rebuilt[$0] }
  #expect(differing.isEmpty, "\(differing.count) of \(rebuilt.count) combinations counted wrong", sourceLocation: sourceLocation)
}

/// The k-anonymity counts are kept as the data changes (QuasiIdentifierCounts); an erasure reads
/// them instead of opening every quasi-identifier value. These tests hold the kept counts
/// against counts built from every stored value.
@Suite("k-anonymity counts")
struct KAnonymityCountTests {
  @Test("counts kept through writes, rectifications, removals, field erasures, erasures and schema changes equal counts rebuilt from the values")
  func keptEqualsRebuilt() async throws {
    let fixture = try VaultFixture()
    try await fixture.run { client in
      try await client.defineStandardFields()
      // A PERSONAL quasi-identifier is erased with the rest, so it is never counted.
      try await client.define(field("city", .personal, tags: ["quasi_identifier"]))
      for index in 0..<24 {
        var values = ["email": "p\(index)@example.com", "city": "Berlin", "purchase_total": "\(index)"]
        values["zip"] = index % 2 == 0 ? "10115" : "10117"
        values["birth_date"] = (index / 2) % 2 == 0 ? "1990-04-17" : "1985-01-01"
        if index % 3 != 0 { values["gender"] = index % 4 == 0 ? "f" : "m" }
        values["segment"] = index % 5 == 0 ? "gold" : "silver"
        try await client.put("s\(index)", values)
      }
    }
    try await expectCountsMatchRebuild(fixture)

    try await fixture.run { client in
      try await client.put("s1", ["zip": "10119"])  // rectified
      try await client.put("s2", ["gender": ""])  // removed
      try await client.put("s3", ["gender": "f"])  // added
      try await client.put("s4", ["email": "new@example.com"])  // no quasi-identifier changes
      _ = try await client.eraseFields(.with {
        $0.subjectID = "s5"
        $0.fields = ["zip", "email"]
        $0.reason = "art 17 in part"
      })
      _ = try await client.eraseFields(.with {
        $0.subjectID = "s6"
        $0.fields = ["birth_date"]
        $0.lock = true
        $0.reason = "art 18 in part"
      })
      // Four records share each combination: generalized, which moves their counts.
      let first = try await client.erase("s7")
      #expect(first.kAnonymity.outcome == .generalized && first.kAnonymity.k == 4)
      let second = try await client.erase("s8")
      #expect(second.kAnonymity.outcome == .generalized && second.kAnonymity.k == 4)
    }
    try await expectCountsMatchRebuild(fixture)

    try await fixture.run { client in
      // A quasi-identifier with no values yet changes no count; one with values rebuilds them.
      try await client.define(field("age", .none, tags: ["quasi_identifier"], rule: bucket(10)))
      try await client.put("s9", ["age": "34"])
      try await client.define(field("segment", .none, searchable: true, tags: ["quasi_identifier"]))
      try await client.put("s10", ["segment": "gold"])
      // Raised to PERSONAL, gender leaves the counted fields.
      try await client.define(field("gender", .personal, tags: ["quasi_identifier"]))
      try await client.put("s11", ["zip": "10115"])
    }
    try await expectCountsMatchRebuild(fixture)
  }

  @Test("EraseFields of a quasi-identifier still works when another value of the record fails to open", sqliteOnly)
  func eraseFieldsBesideUnreadableValue() async throws {
    let fixture = try VaultFixture()
    try await fixture.run { client in
      try await client.defineStandardFields()
      try await client.put("c1", ["email": "c1@example.com", "zip": "10115", "gender": "f"])
    }
    try fixture.execute("UPDATE record_values SET value_sealed = X'00' WHERE subject_id = 'c1' AND field = 'email'")
    try await fixture.run { client in
      let outcome = try await client.eraseFields(.with {
        $0.subjectID = "c1"
        $0.fields = ["zip"]
        $0.reason = "art 17 in part"
      })
      #expect(outcome.erasedFields == ["zip"])
    }
    try await expectCountsMatchRebuild(fixture)
  }

  @Test("an erasure counts the records that match it on its quasi-identifiers, also those holding more of them")
  func matchesRecordsWithMoreQuasiIdentifiers() async throws {
    try await withVaultService { client, _ async throws in
      try await client.defineStandardFields()
      try await client.put("target", ["email": "target@example.com", "zip": "10115"])
      for index in 0..<3 {
        try await client.put("other\(index)", ["zip": "10115", "gender": "f", "birth_date": "1990-04-17"])
      }
      try await client.put("elsewhere", ["zip": "10117"])
      let first = try await client.erase("target")
      #expect(first.kAnonymity.outcome == .generalized && first.kAnonymity.k == 4)
      // The target is now counted under its generalized zip; a fifth record makes the next one satisfied.
      try await client.put("late", ["email": "late@example.com", "zip": "10115"])
      try await client.put("other3", ["zip": "10115"])
      let second = try await client.erase("late")
      #expect(second.kAnonymity.outcome == .satisfied && second.kAnonymity.k == 5)
    }
  }

  @Test("at most 10 quasi-identifiers of classification NONE: the 11th is refused with TOO_MANY_QUASI_IDENTIFIERS")
  func countedFieldLimit() async throws {
    try await withVaultService { client, _ async throws in
      try await client.defineStandardFields()  // zip, birth_date, gender
      for index in 0..<7 { try await client.define(field("q\(index)", .none, tags: ["quasi_identifier"])) }
      try await client.put("c1", ["q0": "a"])
      try await expectRejected(client, subject: "c1", .failedPrecondition, reason: "TOO_MANY_QUASI_IDENTIFIERS") {
        try await client.upsertField(field("q7", .none, tags: ["quasi_identifier"]))
      }
      try await expectRejected(client, subject: "c1", .failedPrecondition, reason: "TOO_MANY_QUASI_IDENTIFIERS") {
        try await client.upsertField(field("segment", .none, searchable: true, tags: ["quasi_identifier"]))
      }
      // PERSONAL quasi-identifiers are erased, not counted: no limit.
      try await client.define(field("city", .personal, tags: ["quasi_identifier"]))
      // Leaving the counted fields makes room.
      try await client.define(field("q0", .none))
      try await client.define(field("q7", .none, tags: ["quasi_identifier"]))
    }
  }
}
