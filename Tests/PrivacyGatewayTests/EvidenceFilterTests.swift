import Foundation
import GRPCCore
import PrivacyGateway
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import SwiftProtobuf
import Testing

@Suite("Consent evidence reaches each role only at its level")
struct EvidenceFilterTests {
  static let ip = "198.51.100.23"
  static let userAgent = "Mozilla/5.0 (X11; Linux) Firefox/120.0"

  static func evidence() -> Privacy_Consent_V1_Evidence {
    .with {
      $0.channel = .webform
      $0.formName = "signup"
      $0.ipAddress = ip
      $0.userAgent = userAgent
    }
  }

  @Test("dpo sees evidence in clear, support masked (network kept), marketing none; the same in RecordConsent, lists and feeds")
  func levels() async throws {
    let fixture = try GatewayFixture()
    try await fixture.run { port, backends async throws in
      try await WorkflowData.seed(backends)
      try await withTestClient(port: backends[.consent]!) { client async throws in
        let consent = ConsentClient(wrapping: client)
        _ = try await consent.recordConsent(.with {
          $0.subjectID = "e-1"
          $0.purposeID = "newsletter"
          $0.decision = .granted
          $0.evidence = Self.evidence()
        })
        _ = try await consent.startDoubleOptIn(.with {
          $0.subjectID = "e-1"
          $0.emailAddress = "eve@example.org"
          $0.evidence = Self.evidence()
        })
        _ = try await consent.upsertMailingList(.with { $0.list = .with { $0.listID = "news"; $0.name = "News" } })
      }
      func events(_ role: String) async throws -> [Privacy_Consent_V1_ConsentEvent] {
        try await asRole(role, port: port) { client async throws in
          try await ConsentClient(wrapping: client).listConsentEvents(.with { $0.subjectID = "e-1" }).events
        }
      }
      let dpo = try await events("dpo")
      #expect(dpo.map(\.evidence.ipAddress) == [Self.ip, Self.ip])
      #expect(dpo.first?.evidence.userAgent == Self.userAgent && dpo.last?.evidence.emailAddress == "eve@example.org")

      let support = try await events("support")
      #expect(support.map(\.evidence.ipAddress) == ["198.51.100.0", "198.51.100.0"])
      #expect(support.allSatisfy { !$0.evidence.userAgent.contains("Firefox") && !$0.evidence.userAgent.isEmpty })
      #expect(support.last.map { !$0.evidence.emailAddress.contains("eve@") && $0.evidence.emailAddress.hasSuffix("example.org") } == true)
      #expect(support.first?.evidence.channel == .webform)  // when and how stays

      // Marketing may subscribe people; the event it gets back carries no evidence of the click.
      let subscribed = try await asRole("marketing", port: port) { client async throws in
        try await ConsentClient(wrapping: client).subscribe(.with {
          $0.subjectID = "e-1"
          $0.listID = "news"
          $0.evidence = Self.evidence()
        }).event
      }
      #expect(subscribed.evidence.ipAddress.isEmpty && subscribed.evidence.userAgent.isEmpty && subscribed.evidence.formName.isEmpty)
      #expect(subscribed.evidence.channel == .webform)
    }
  }

  @Test("the event feed is filtered message by message")
  func feed() async throws {
    let policy = """
      roles:
        watcher:
          methods: [privacy.consent.v1.ConsentService/WatchConsentEvents]
          fields:
            classification: {PERSONAL: CLEAR}
            tag: {consent_evidence: NONE}
      """
    let fixture = try GatewayFixture(keys: keysFile(roles: ["watcher"]))
    let policyPath = fixture.directory.path("policy.yaml")
    try policy.write(toFile: policyPath, atomically: true, encoding: .utf8)
    try await fixture.run(gatewayEnvironment: ["GATEWAY_POLICY_FILE": policyPath]) { port, backends async throws in
      try await WorkflowData.seed(backends)
      try await withTestClient(port: backends[.consent]!) { client async throws in
        _ = try await ConsentClient(wrapping: client).recordConsent(.with {
          $0.subjectID = "e-2"
          $0.purposeID = "newsletter"
          $0.decision = .granted
          $0.evidence = Self.evidence()
        })
      }
      let first = try await asRole("watcher", port: port) { client async throws in
        try await ConsentClient(wrapping: client).watchConsentEvents(.init()) { response -> Privacy_Consent_V1_ConsentEvent? in
          for try await message in response.messages { return message.event }
          return nil
        }
      }
      let event = try #require(first)
      #expect(event.subjectID == "e-2" && event.evidence.ipAddress.isEmpty && event.evidence.userAgent.isEmpty)
    }
  }

  @Test("masking an address keeps its network")
  func maskIP() {
    #expect(EvidenceFilter.maskIP("203.0.113.7") == "203.0.113.0")
    #expect(EvidenceFilter.maskIP("2001:db8:85a3:8d3:1319:8a2e:370:7348") == "2001:db8:85a3::")
    #expect(!EvidenceFilter.maskIP("not-an-ip").contains("not"))
  }
}

@Suite("Evidence filtering covers every answer that carries consent events")
struct EvidenceCarrierTests {
  /// Every method's output message that holds a ConsentEvent, at any depth, from the descriptors
  /// the servers publish.
  static func answersCarryingConsentEvents() throws -> Set<String> {
    let bytes = try #require(Data(base64Encoded: ProtocolDescriptors.fileDescriptorSetBase64))
    let set = try Google_Protobuf_FileDescriptorSet(serializedBytes: bytes)
    var messages: [String: Google_Protobuf_DescriptorProto] = [:]
    func collect(_ message: Google_Protobuf_DescriptorProto, in scope: String) {
      let name = "\(scope).\(message.name)"
      messages[name] = message
      for nested in message.nestedType { collect(nested, in: name) }
    }
    for file in set.file { for message in file.messageType { collect(message, in: ".\(file.package)") } }
    func holdsEvent(_ name: String, seen: Set<String> = []) -> Bool {
      if name == ".privacy.consent.v1.ConsentEvent" { return true }
      guard !seen.contains(name), let message = messages[name] else { return false }
      return message.field.contains { !$0.typeName.isEmpty && holdsEvent($0.typeName, seen: seen.union([name])) }
    }
    let outputs = set.file.flatMap(\.service).flatMap(\.method).map(\.outputType)
    return Set(outputs.filter { holdsEvent($0) }.map { String($0.dropFirst()) })
  }

  @Test("the answers the filter rewrites are exactly those whose descriptors hold a ConsentEvent")
  func carriersMatchDescriptors() throws {
    let carrying = try Self.answersCarryingConsentEvents()
    #expect(carrying.contains("privacy.consent.v1.WatchConsentEventsResponse"))
    #expect(carrying.contains("privacy.gateway.v1.CreateContactResponse"))
    #expect(EvidenceFilter.filteredMessageNames == carrying)
  }
}
