import GRPCCore
import PrivacyKit
import PrivacyProtocol
import Testing

@testable import PrivacyGateway

@Suite("When the gateway's copy of the ledger may answer")
struct ConsentCopyRuleTests {
  private static let newsletter = Privacy_Consent_V1_Purpose.with {
    $0.purposeID = "newsletter"
    $0.legalBasis = .consent
    $0.category = .emailMarketing
  }

  private static let question = Privacy_Consent_V1_CheckConsentRequest.with {
    $0.subjectID = "c1"
    $0.purposeID = "newsletter"
  }

  private static func granted(_ sequence: UInt64) -> Privacy_Consent_V1_ConsentEvent {
    .with {
      $0.sequence = sequence
      $0.subjectID = "c1"
      $0.kind = .consentDecision
      $0.purposeID = "newsletter"
      $0.decision = .granted
      $0.legalBasis = .consent
    }
  }

  private static func trailers(_ sequence: UInt64) -> Metadata {
    [MetadataKey.ledgerSequence: .string(String(sequence))]
  }

  @Test("only once caught up, holding every event the service's answers named, with the catalogue listed after the last change; a restart forgets everything")
  func rule() async throws {
    let position = LedgerPosition()
    let copy = ConsentCopy(maxStaleness: .seconds(60), position: position)
    #expect(copy.current == nil, "never caught up")
    try await copy.refreshCatalogue { ([Self.newsletter], []) }
    copy.caughtUp()
    #expect(try copy.current?.checkConsent(Self.question)?.allowed == false)

    // A write through the gateway named event 1: the copy waits for it.
    position.observe(Self.trailers(1))
    #expect(copy.current == nil)
    copy.mirror.apply(Self.granted(1))
    #expect(try copy.current?.checkConsent(Self.question)?.allowed == true)
    position.observe(Self.trailers(0))
    #expect(copy.current != nil, "the position never moves back")

    // A purpose changed through the gateway: not until the catalogue is listed again, and a
    // change during the listing needs another.
    copy.catalogueChanged()
    #expect(copy.current == nil)
    let digest = try #require(copy.mirror.catalogueDigest)
    let marker = Privacy_Consent_V1_CaughtUp.with {
      $0.sequence = 1
      $0.catalogueDigest = digest
    }
    #expect(copy.needsCatalogue(marker))
    try await copy.refreshCatalogue {
      copy.catalogueChanged()
      return ([Self.newsletter], [])
    }
    #expect(copy.current == nil)
    try await copy.refreshCatalogue { ([Self.newsletter], []) }
    #expect(copy.current != nil)
    #expect(!copy.needsCatalogue(marker))
    // Another digest on the feed: listed again.
    #expect(copy.needsCatalogue(.with { $0.catalogueDigest = "another" }))

    copy.restart()
    #expect(copy.current == nil)
    #expect(copy.mirror.sequence == 0 && copy.mirror.subjectCount == 0 && copy.mirror.catalogueDigest == nil)
  }

  @Test("not once its last catch-up is older than the staleness bound")
  func staleness() async throws {
    let copy = ConsentCopy(maxStaleness: .milliseconds(100), position: LedgerPosition())
    try await copy.refreshCatalogue { ([Self.newsletter], []) }
    copy.caughtUp()
    #expect(copy.current != nil)
    try await Task.sleep(for: .milliseconds(200))
    #expect(copy.current == nil)
    copy.caughtUp()
    #expect(copy.current != nil)
  }
}
