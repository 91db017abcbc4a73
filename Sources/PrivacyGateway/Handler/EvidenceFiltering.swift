import PrivacyKit
import PrivacyProtocol
import SwiftProtobuf

/// Consent evidence (who clicked, from where) is personal data like a vault field: the policy
/// gives each evidence field a level, named `evidence.ip_address`, `evidence.user_agent`,
/// `evidence.email_address` and `evidence.form_name`, classified PERSONAL and tagged
/// `consent_evidence` (so `tag: {consent_evidence: NONE}` covers all four). Every answer that
/// carries consent events is filtered by them on its way out: CLEAR as stored, MASKED (and
/// REVEAL: evidence has no reveal) masked, NONE emptied.
public struct EvidenceFilter: Sendable {
  let fields: FieldPolicy

  static let tag = "consent_evidence"

  static func facts(_ name: String) -> FieldFacts {
    FieldFacts(name: "evidence." + name, classification: .personal, tags: [tag])
  }

  static let ipAddress = facts("ip_address")
  static let userAgent = facts("user_agent")
  static let emailAddress = facts("email_address")
  static let formName = facts("form_name")

  /// The message with the evidence of every event it carries filtered; other messages as they are.
  func apply<Message>(to message: Message) -> Message {
    guard var carrier = message as? any CarriesConsentEvents else { return message }
    carrier.carriedEvents = carrier.carriedEvents.map(apply)
    return carrier as? Message ?? message
  }

  func apply(_ event: Privacy_Consent_V1_ConsentEvent) -> Privacy_Consent_V1_ConsentEvent {
    guard event.hasEvidence else { return event }
    var event = event
    var evidence = event.evidence
    evidence.ipAddress = filtered(evidence.ipAddress, Self.ipAddress, mask: Self.maskIP)
    evidence.userAgent = filtered(evidence.userAgent, Self.userAgent) { Masking.apply(.full, to: $0) }
    evidence.emailAddress = filtered(evidence.emailAddress, Self.emailAddress) { Masking.apply(.email, to: $0) }
    evidence.formName = filtered(evidence.formName, Self.formName) { Masking.apply(.full, to: $0) }
    event.evidence = evidence
    return event
  }

  private func filtered(_ value: String, _ facts: FieldFacts, mask: (String) -> String) -> String {
    guard !value.isEmpty else { return value }
    switch fields.level(for: facts) {
    case .clear: return value
    case .masked, .reveal: return mask(value)
    case .none: return ""
    }
  }

  /// An IPv4 address without its last byte, an IPv6 address without its last 80 bits: the
  /// network stays (enough to tell a country or a company apart), the host goes.
  public static func maskIP(_ address: String) -> String {
    if address.contains(":") {
      let groups = address.split(separator: ":", omittingEmptySubsequences: false).prefix(3)
      return groups.joined(separator: ":") + "::"
    }
    var bytes = address.split(separator: ".").map(String.init)
    guard bytes.count == 4 else { return Masking.apply(.full, to: address) }
    bytes[3] = "0"
    return bytes.joined(separator: ".")
  }
}

extension EvidenceFilter {
  /// The protobuf names of the answers whose consent events are filtered. `EvidenceFilterTests`
  /// checks them against every method's output in the descriptors, so that a new answer carrying
  /// consent events cannot leave unfiltered.
  public static var filteredMessageNames: Set<String> { Set(carriers.map { $0.protoMessageName }) }

  /// Every type conforming to `CarriesConsentEvents`.
  static let carriers: [any (CarriesConsentEvents & SwiftProtobuf.Message).Type] = [
    Privacy_Consent_V1_RecordConsentResponse.self, Privacy_Consent_V1_SetEmailOptInStatusResponse.self,
    Privacy_Consent_V1_StartDoubleOptInResponse.self, Privacy_Consent_V1_ConfirmDoubleOptInResponse.self,
    Privacy_Consent_V1_SubscribeResponse.self, Privacy_Consent_V1_UnsubscribeResponse.self,
    Privacy_Consent_V1_SetProcessingRestrictionResponse.self, Privacy_Consent_V1_EraseSubjectResponse.self,
    Privacy_Consent_V1_WatchConsentEventsResponse.self, Privacy_Consent_V1_ListConsentEventsResponse.self,
    Privacy_Consent_V1_ConfirmPreferenceChangeResponse.self, Privacy_Gateway_V1_CreateContactResponse.self,
  ]
}

/// An answer that carries consent events. Conformances are listed by hand, and in
/// `EvidenceFilter.carriers`: every response with a `ConsentEvent` field.
protocol CarriesConsentEvents {
  var carriedEvents: [Privacy_Consent_V1_ConsentEvent] { get set }
}

/// A response with one `event` field.
protocol CarriesOneConsentEvent: CarriesConsentEvents {
  var event: Privacy_Consent_V1_ConsentEvent { get set }
  var hasEvent: Bool { get }
}

extension CarriesOneConsentEvent {
  var carriedEvents: [Privacy_Consent_V1_ConsentEvent] {
    get { hasEvent ? [event] : [] }
    set { if let first = newValue.first { event = first } }
  }
}

extension Privacy_Consent_V1_RecordConsentResponse: CarriesOneConsentEvent {}
extension Privacy_Consent_V1_SetEmailOptInStatusResponse: CarriesOneConsentEvent {}
extension Privacy_Consent_V1_StartDoubleOptInResponse: CarriesOneConsentEvent {}
extension Privacy_Consent_V1_ConfirmDoubleOptInResponse: CarriesOneConsentEvent {}
extension Privacy_Consent_V1_SubscribeResponse: CarriesOneConsentEvent {}
extension Privacy_Consent_V1_UnsubscribeResponse: CarriesOneConsentEvent {}
extension Privacy_Consent_V1_SetProcessingRestrictionResponse: CarriesOneConsentEvent {}
extension Privacy_Consent_V1_EraseSubjectResponse: CarriesOneConsentEvent {}
extension Privacy_Consent_V1_WatchConsentEventsResponse: CarriesOneConsentEvent {}
extension Privacy_Consent_V1_ListConsentEventsResponse: CarriesConsentEvents {
  var carriedEvents: [Privacy_Consent_V1_ConsentEvent] {
    get { events }
    set { events = newValue }
  }
}
extension Privacy_Consent_V1_ConfirmPreferenceChangeResponse: CarriesConsentEvents {
  var carriedEvents: [Privacy_Consent_V1_ConsentEvent] {
    get { events }
    set { events = newValue }
  }
}
extension Privacy_Gateway_V1_CreateContactResponse: CarriesConsentEvents {
  var carriedEvents: [Privacy_Consent_V1_ConsentEvent] {
    get { consentEvents }
    set { consentEvents = newValue }
  }
}
