public import Foundation
import PrivacyKit

/// A consent receipt: one ledger event told as ISO/IEC TS 27560 shapes a consent record (who
/// decided what, about which purpose, on which basis and notice, when, by which channel), with
/// the event's place in the hash chain, so that the receipt can be checked against the ledger.
/// It names the subject only by the pseudonymous id and holds no evidence of the click (no IP
/// address, browser or email address).
public struct ConsentReceipt: Codable, Equatable, Sendable {
  public struct PurposeInfo: Codable, Equatable, Sendable {
    public var id: String
    public var title: String
    public var category: String
  }

  public struct LedgerPlace: Codable, Equatable, Sendable {
    public var sequence: UInt64
    public var hash: String
  }

  public var schema = "ISO/IEC TS 27560:2023 consent record (shape)"
  public var controller: String
  public var subject: String
  public var eventKind: String
  public var purpose: PurposeInfo?
  public var legalBasis: String?
  public var noticeVersion: String?
  public var decision: String?
  public var optInStatus: String?
  public var mailingList: String?
  public var capturedAt: String
  public var recordedAt: String
  public var channel: String
  public var ledger: LedgerPlace

  enum CodingKeys: String, CodingKey {
    case schema, controller, subject, purpose, decision, channel, ledger
    case eventKind = "event_kind"
    case legalBasis = "legal_basis"
    case noticeVersion = "notice_version"
    case optInStatus = "opt_in_status"
    case mailingList = "mailing_list"
    case capturedAt = "captured_at"
    case recordedAt = "recorded_at"
  }

  public init(event: LedgerEvent, purpose: Purpose?, controller: String) {
    self.controller = controller
    subject = event.subjectID
    eventKind = event.kind.rawValue
    self.purpose = purpose.map { PurposeInfo(id: $0.id, title: $0.title, category: $0.category.rawValue) }
      ?? (event.purposeID.isEmpty ? nil : PurposeInfo(id: event.purposeID, title: "", category: ""))
    legalBasis = event.legalBasis?.rawValue
    noticeVersion = event.evidence.noticeVersion.isEmpty ? nil : event.evidence.noticeVersion
    decision = event.decision?.rawValue
    optInStatus = event.optInStatus?.rawValue
    mailingList = event.listID.isEmpty ? nil : event.listID
    let time = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
    capturedAt = event.evidence.capturedAt.formatted(time)
    recordedAt = event.recordedAt.formatted(time)
    channel = event.evidence.channel.rawValue
    ledger = LedgerPlace(sequence: event.sequence, hash: event.hash)
  }

  /// The bytes signed: keys sorted, so one event always gives the same receipt.
  public func encoded() throws -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return try encoder.encode(self)
  }
}
