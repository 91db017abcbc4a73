public import Foundation
public import PrivacyKit

/// Which subjects a retention policy covers.
public enum RetentionScope: Sendable, Equatable {
  case all
  /// Subjects whose id starts with this text.
  case prefix(String)

  /// Reads `all` or `prefix:<p>` (<p> 1-128 characters of a subject id).
  public init(parsing text: String, field: String = "scope") throws(InvalidArgument) {
    if text == "all" {
      self = .all
      return
    }
    guard text.hasPrefix("prefix:") else { throw InvalidArgument("\(field) must be \"all\" or \"prefix:<subject id prefix>\"") }
    let prefix = String(text.dropFirst("prefix:".count))
    do {
      _ = try Validate.subjectID(prefix, field: field)
    } catch {
      throw InvalidArgument("\(field) prefix must be 1-128 characters of A-Z a-z 0-9 . _ : -")
    }
    self = .prefix(prefix)
  }

  public var text: String {
    switch self {
    case .all: "all"
    case .prefix(let prefix): "prefix:\(prefix)"
    }
  }

  public func covers(_ subjectID: String) -> Bool {
    switch self {
    case .all: true
    case .prefix(let prefix): subjectID.hasPrefix(prefix)
    }
  }
}

/// How long a subject in scope may stay inactive before their data is due for erasure.
public struct RetentionPolicy: Sendable, Equatable {
  public static let maximumDays = 36_500

  public var name: String
  public var inactivityDays: Int
  public var scope: RetentionScope
  public var description: String
  public var disabled: Bool
  public var createdAt: Date
  public var updatedAt: Date

  public init(
    name: String, inactivityDays: Int, scope: RetentionScope, description: String, disabled: Bool, createdAt: Date,
    updatedAt: Date
  ) {
    self.name = name
    self.inactivityDays = inactivityDays
    self.scope = scope
    self.description = description
    self.disabled = disabled
    self.createdAt = createdAt.microsecondPrecision
    self.updatedAt = updatedAt.microsecondPrecision
  }

  public func sameContent(as other: RetentionPolicy) -> Bool {
    name == other.name && inactivityDays == other.inactivityDays && scope == other.scope && description == other.description
      && disabled == other.disabled
  }

  /// When a subject last engaged at `lastEngagement` becomes due: `inactivityDays` whole days later.
  public func dueSince(lastEngagement: Date) -> Date {
    lastEngagement.addingTimeInterval(TimeInterval(inactivityDays) * 86_400)
  }
}

/// A subject due for erasure under a retention policy.
public struct RetentionDue: Sendable, Equatable {
  public var subjectID: String
  public var policyName: String
  public var lastEngagementAt: Date
  public var dueSince: Date

  public init(subjectID: String, policyName: String, lastEngagementAt: Date, dueSince: Date) {
    self.subjectID = subjectID
    self.policyName = policyName
    self.lastEngagementAt = lastEngagementAt
    self.dueSince = dueSince
  }
}

/// Where a retention listing page starts: after this subject in (`due_since`, `subject_id`) order.
public struct RetentionCursor: Sendable, Equatable {
  public var dueSince: Microseconds
  public var subjectID: String

  public init(dueSince: Microseconds, subjectID: String) {
    self.dueSince = dueSince
    self.subjectID = subjectID
  }
}

/// Where a page of ListEngagements ended: the last entry's engagement time and subject id.
public struct EngagementCursor: Sendable, Equatable {
  public var at: Microseconds
  public var subjectID: String

  public init(at: Microseconds, subjectID: String) {
    self.at = at
    self.subjectID = subjectID
  }
}
