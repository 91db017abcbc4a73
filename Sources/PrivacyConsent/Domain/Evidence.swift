public import Foundation
public import PrivacyKit

/// Proof of where a decision came from. IP address, user agent and email address are personal
/// data: they enter the ledger hash only through a salted digest and are removed on erasure.
public struct Evidence: Sendable, Equatable {
  public var channel: Channel
  public var formName: String
  public var ipAddress: String
  public var userAgent: String
  public var actor: String
  public var actorKind: ActorKind
  /// The notice version shown; always resolved to a concrete version before storing.
  public var noticeVersion: String
  public var capturedAt: Date
  public var subjectAge: SubjectAge
  public var emailAddress: String
  /// True once erasure removed the personal fields.
  public var personalDataErased: Bool

  public init(
    channel: Channel, formName: String = "", ipAddress: String = "", userAgent: String = "", actor: String = "",
    actorKind: ActorKind = .unspecified, noticeVersion: String = "", capturedAt: Date, subjectAge: SubjectAge = .unspecified,
    emailAddress: String = "", personalDataErased: Bool = false
  ) {
    self.channel = channel
    self.formName = formName
    self.ipAddress = ipAddress
    self.userAgent = userAgent
    self.actor = actor
    self.actorKind = actorKind
    self.noticeVersion = noticeVersion
    self.capturedAt = capturedAt.microsecondPrecision
    self.subjectAge = subjectAge
    self.emailAddress = emailAddress
    self.personalDataErased = personalDataErased
  }

  var hasPersonalData: Bool {
    !ipAddress.isEmpty || !userAgent.isEmpty || !emailAddress.isEmpty
  }

  /// The evidence without its personal fields, as erasure leaves it.
  var erased: Evidence {
    var copy = self
    copy.ipAddress = ""
    copy.userAgent = ""
    copy.emailAddress = ""
    copy.personalDataErased = true
    return copy
  }
}
