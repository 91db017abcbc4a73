import Foundation
import PrivacyGateway
import PrivacyKit
import PrivacyTesting
import Testing

@Suite("Role policy: parsing, validation and precedence")
struct PolicyTests {
  private let known = GatewayPolicy.knownMethods

  private func parse(_ text: String) throws -> Policy {
    try PolicyFile.parse(text, knownMethods: known)
  }

  @Test("the shipped default policy loads and defines the roles of the design")
  func shippedPolicy() throws {
    let policy = try GatewayPolicy.load(path: nil)
    #expect(
      Set(policy.roles.keys) == ["admin", "dpo", "support", "billing", "marketing", "service", "auditor", "delivery", "preference-center"])
    #expect(policy.roles.values.filter(\.boundToLink).map(\.name) == ["preference-center"])
    #expect(policy.role("dpo")?.canOverrideBlocklist == true)
    #expect(policy.roles.values.filter(\.canOverrideBlocklist).map(\.name) == ["dpo"])
  }

  @Test("every role may call WhoAmI; nothing else that is not granted")
  func methodsDenyByDefault() throws {
    let policy = try parse("""
      roles:
        reader:
          methods: [privacy.vault.v1.VaultService/GetRecord, privacy.consent.v1.ConsentService/*]
      """)
    #expect(policy.allows(role: "reader", method: "privacy.gateway.v1.AdminService/WhoAmI"))
    #expect(policy.allows(role: "reader", method: "privacy.vault.v1.VaultService/GetRecord"))
    #expect(policy.allows(role: "reader", method: "privacy.consent.v1.ConsentService/CheckConsent"))
    #expect(!policy.allows(role: "reader", method: "privacy.vault.v1.VaultService/RevealField"))
    #expect(!policy.allows(role: "reader", method: "privacy.consent.v1.ConsentServiceX/CheckConsent"))
    #expect(!policy.allows(role: "nobody", method: "privacy.gateway.v1.AdminService/WhoAmI"))
  }

  @Test("field rules: field beats tag beats special category beats classification; unmatched is NONE")
  func precedence() throws {
    let fields = try #require(try parse("""
      roles:
        r:
          methods: []
          fields:
            classification: {NONE: CLEAR, PERSONAL: CLEAR, SENSITIVE: MASKED}
            special_category: {ANY: NONE, HEALTH: MASKED, CRIMINAL_OFFENCE: NONE}
            tag: {billing: REVEAL, vip: NONE}
            field: {iban: CLEAR}
      """).role("r")).fields
    let iban = FieldFacts(name: "iban", classification: .sensitive, tags: ["billing"])
    #expect(fields.level(for: iban) == .clear)  // field rule over tag rule
    #expect(fields.level(for: FieldFacts(name: "card", classification: .sensitive, tags: ["billing"])) == .reveal)
    // Two tags selecting one field: the more restrictive applies.
    #expect(fields.level(for: FieldFacts(name: "card", classification: .sensitive, tags: ["billing", "vip"])) == .none)
    // A tag beats the special category.
    #expect(fields.level(for: FieldFacts(name: "x", classification: .sensitive, tags: ["billing"], specialCategory: "HEALTH")) == .reveal)
    // A named category beats ANY; ANY beats the classification.
    #expect(fields.level(for: FieldFacts(name: "diagnosis", classification: .sensitive, specialCategory: "HEALTH")) == .masked)
    #expect(fields.level(for: FieldFacts(name: "union", classification: .sensitive, specialCategory: "TRADE_UNION_MEMBERSHIP")) == .none)
    #expect(fields.level(for: FieldFacts(name: "record", classification: .sensitive, criminalOffence: true)) == .none)
    // Art 9 and art 10 on one field: the more restrictive named rule.
    #expect(fields.level(for: FieldFacts(name: "both", classification: .sensitive, specialCategory: "HEALTH", criminalOffence: true)) == .none)
    #expect(fields.level(for: FieldFacts(name: "name", classification: .personal)) == .clear)
    #expect(fields.level(for: FieldFacts(name: "salary", classification: .sensitive)) == .masked)

    let empty = try #require(try parse("roles:\n  r:\n    methods: []\n").role("r")).fields
    for classification in FieldClassification.allCases {
      #expect(empty.level(for: FieldFacts(name: "f", classification: classification)) == .none)
    }
  }

  @Test("a malformed policy stops start-up with a message naming what is wrong and where", arguments: [
    ("roles:\n  r:\n    methods: [privacy.vault.v1.VaultService/StealRecord]\n", "unknown method \"privacy.vault.v1.VaultService/StealRecord\""),
    ("roles:\n  r:\n    methods: [privacy.vault.v9.VaultService/*]\n", "unknown service \"privacy.vault.v9.VaultService\""),
    ("roles:\n  r:\n    methods: [GetRecord]\n", "\"GetRecord\" is not a method"),
    ("roles:\n  r:\n    fields:\n      classification: {PERSONAL: VISIBLE}\n", "unknown level \"VISIBLE\""),
    ("roles:\n  r:\n    fields:\n      classification: {SECRET: CLEAR}\n", "unknown classification \"SECRET\""),
    ("roles:\n  r:\n    fields:\n      special_category: {ASTROLOGY: NONE}\n", "unknown special category \"ASTROLOGY\""),
    ("roles:\n  r:\n    fields:\n      colour: {red: NONE}\n", "unknown key \"colour\""),
    ("roles:\n  r:\n    method: []\n", "unknown key \"method\""),
    ("roles:\n  R2D2:\n    methods: []\n", "role name \"R2D2\""),
    ("roles:\n  r:\n    methods: []\n  r:\n    methods: []\n", "duplicated key(s): 'r'"),
    ("roles: {}\n", "defines no role"),
    ("rules: {}\n", "unknown key \"rules\""),
    ("roles: [", "not valid YAML"),
  ])
  func invalid(_ text: String, _ expected: String) throws {
    let error = #expect(throws: PolicyError.self) { try self.parse(text) }
    #expect(error?.description.contains(expected) == true, "\(error?.description ?? "")")
  }

  @Test("problems name their line")
  func lineNumbers() throws {
    let error = #expect(throws: PolicyError.self) {
      try self.parse("roles:\n  r:\n    methods:\n      - privacy.consent.v1.ConsentService/CheckConsent\n      - nope/Nope\n")
    }
    #expect(error?.description.hasPrefix("line 5:") == true, "\(error?.description ?? "")")
  }

  @Test("a policy file that names an unknown method is a configuration error naming GATEWAY_POLICY_FILE")
  func configurationError() throws {
    let directory = try TestDirectory()
    defer { directory.remove() }
    let path = directory.path("policy.yaml")
    try "roles:\n  r:\n    methods: [privacy.vault.v1.VaultService/Nope]\n".write(toFile: path, atomically: true, encoding: .utf8)
    let error = #expect(throws: ConfigurationError.self) { try GatewayPolicy.load(path: path) }
    #expect(error?.variable == "GATEWAY_POLICY_FILE")
    #expect(error?.description.contains("privacy.vault.v1.VaultService/Nope") == true)
    #expect(throws: ConfigurationError.self) { try GatewayPolicy.load(path: directory.path("missing.yaml")) }
  }

  @Test("the shipped policy never lets admin, marketing, service or auditor see a clear SENSITIVE value")
  func shippedFieldLevels() throws {
    let policy = try GatewayPolicy.load(path: nil)
    let sensitive = [
      FieldFacts(name: "iban", classification: .sensitive, tags: ["billing"]),
      FieldFacts(name: "diagnosis", classification: .sensitive, specialCategory: "HEALTH"),
      FieldFacts(name: "record", classification: .sensitive, criminalOffence: true),
      FieldFacts(name: "national_id", classification: .sensitive, tags: ["national_id"]),
    ]
    for role in ["admin", "marketing", "service", "auditor", "support"] {
      for field in sensitive {
        #expect(policy.role(role)!.fields.level(for: field) <= .masked, "\(role) \(field.name)")
      }
    }
    #expect(policy.role("billing")!.fields.level(for: sensitive[0]) == .reveal)
    #expect(policy.role("billing")!.fields.level(for: sensitive[1]) == .none)
    #expect(sensitive.allSatisfy { policy.role("dpo")!.fields.level(for: $0) == .reveal })
  }
}
