import Foundation
import PrivacyGateway
import PrivacyKit
import PrivacyProtocol
import Testing

@Suite("Field filtering of records, built from the policy")
struct FieldFilterTests {
  /// A record as GetRecord returns it: PERSONAL clear, SENSITIVE masked by the vault.
  private let record = Privacy_Vault_V1_Record.with {
    $0.subjectID = "c-1"
    $0.fields = [
      .with { $0.name = "segment"; $0.classification = .none; $0.value = "gold"; $0.mask = .none },
      .with {
        $0.name = "email"; $0.classification = .personal; $0.value = "ada@example.org"; $0.mask = .email
        $0.source = .with { $0.ipAddress = "203.0.113.7"; $0.channel = .webform }
      },
      .with { $0.name = "name"; $0.classification = .personal; $0.value = "Ada Lovelace"; $0.mask = .none },
      .with { $0.name = "iban"; $0.classification = .sensitive; $0.value = "****3000"; $0.masked = true; $0.mask = .last4; $0.tags = ["billing"] },
      .with { $0.name = "diagnosis"; $0.classification = .sensitive; $0.value = "********"; $0.masked = true; $0.mask = .full; $0.specialCategory = .health },
      .with { $0.name = "phone"; $0.classification = .personal; $0.value = ""; $0.locked = true },
    ]
  }

  private func policy(_ rules: [FieldRule]) -> RecordFilter { RecordFilter(fields: FieldPolicy(rules: rules)) }

  @Test("no rule: every field withheld, none left")
  func denyByDefault() {
    let outcome = policy([]).apply(record)
    #expect(outcome.record.fields.isEmpty)
    #expect(outcome.withheld == ["diagnosis", "email", "iban", "name", "phone", "segment"])
    #expect(outcome.record.subjectID == "c-1")
  }

  @Test("a restricted record's personal fields are withheld from a role without read_restricted, whatever its levels")
  func restricted() throws {
    var restricted = record
    restricted.restricted = true
    let rules = [FieldRule(.classification(.none), .clear), FieldRule(.classification(.personal), .clear), FieldRule(.classification(.sensitive), .clear)]
    let without = RecordFilter(fields: FieldPolicy(rules: rules)).apply(restricted)
    #expect(without.record.fields.map(\.name) == ["segment"] && without.record.restricted)
    #expect(without.withheld == ["diagnosis", "email", "iban", "name", "phone"])
    let with = RecordFilter(fields: FieldPolicy(rules: rules), readsRestricted: true).apply(restricted)
    #expect(with.record.fields.count == record.fields.count && with.withheld.isEmpty)
    let policy = try GatewayPolicy.load(path: nil)
    #expect(policy.role("dpo")?.readsRestricted == true)
    #expect(policy.roles.values.filter(\.readsRestricted).map(\.name) == ["dpo"])
  }

  @Test("MASKED masks a clear value with the field's mask (FULL when it has none) and drops the source IP")
  func masked() {
    let outcome = policy([FieldRule(.classification(.personal), .masked), FieldRule(.classification(.none), .clear)]).apply(record)
    #expect(outcome.record.field("email")?.value == "a***@example.org")
    #expect(outcome.record.field("email")?.masked == true)
    #expect(outcome.record.field("email")?.source.ipAddress == "")
    #expect(outcome.record.field("email")?.source.channel == .webform)
    #expect(outcome.record.field("name")?.value == Masking.full)
    #expect(outcome.record.field("phone")?.value == "" && outcome.record.field("phone")?.locked == true)
    #expect(outcome.record.field("segment")?.value == "gold")
    #expect(outcome.withheld == ["diagnosis", "iban"])
    #expect(outcome.clear == ["segment"])
  }

  @Test("CLEAR leaves what the vault returned: SENSITIVE stays masked as the vault masked it")
  func clear() {
    let outcome = policy([FieldRule(.classification(.personal), .clear), FieldRule(.classification(.sensitive), .clear)]).apply(record)
    #expect(outcome.record.field("email")?.value == "ada@example.org")
    #expect(outcome.record.field("email")?.source.ipAddress == "203.0.113.7")
    #expect(outcome.record.field("iban")?.value == "****3000")
    #expect(outcome.clear == ["email", "name"])
    #expect(outcome.withheld == ["segment"])
  }

  @Test("REVEAL shows masked, like MASKED; tag and special-category rules pick single fields")
  func reveal() {
    let outcome = policy([
      FieldRule(.classification(.sensitive), .masked), FieldRule(.tag("billing"), .reveal),
      FieldRule(.specialCategory("ANY"), .none), FieldRule(.field("name"), .clear),
    ]).apply(record)
    #expect(outcome.record.fields.map(\.name) == ["name", "iban"])
    #expect(outcome.record.field("iban")?.value == "****3000")
    #expect(outcome.withheld == ["diagnosis", "email", "phone", "segment"])
  }

  @Test("an export (everything clear) is masked per role, so no clear sensitive value leaves")
  func export() {
    var exported = record
    exported.fields = exported.fields.map { field in
      var field = field
      if field.name == "iban" { field.value = "DE89370400440532013000"; field.masked = false }
      if field.name == "diagnosis" { field.value = "asthma"; field.masked = false }
      return field
    }
    let outcome = policy([FieldRule(.classification(.sensitive), .masked), FieldRule(.tag("billing"), .reveal)]).apply(exported)
    #expect(outcome.record.field("iban")?.value == "****3000")
    #expect(outcome.record.field("diagnosis")?.value == Masking.full)
    #expect(outcome.clear.isEmpty)
    let serialized: [UInt8] = (try? outcome.record.serializedBytes()) ?? []
    #expect(!String(decoding: serialized, as: UTF8.self).contains("DE8937"))
    #expect(!String(decoding: serialized, as: UTF8.self).contains("asthma"))
  }

  @Test("an unset classification is treated as SENSITIVE")
  func unknownClassification() {
    var odd = record
    odd.fields = [.with { $0.name = "x"; $0.value = "secret"; $0.classification = .unspecified }]
    let outcome = policy([FieldRule(.classification(.personal), .clear)]).apply(odd)
    #expect(outcome.withheld == ["x"])
  }
}

@Suite("Route table")
struct RouteTableTests {
  @Test("the gateway serves every method of the four backends and AdminService, and nothing else")
  func complete() {
    let generated = [
      Privacy_Consent_V1_ConsentService.Method.descriptors, Privacy_Vault_V1_VaultService.Method.descriptors,
      Privacy_Rights_V1_SubjectRightsService.Method.descriptors, Privacy_Blocklist_V1_BlocklistService.Method.descriptors,
      Privacy_Gateway_V1_AdminService.Method.descriptors,
    ].flatMap { $0.map(\.fullyQualifiedMethod) }
    #expect(GatewayPolicy.knownMethods == Set(generated))
    #expect(generated.count == 94)
  }
}

