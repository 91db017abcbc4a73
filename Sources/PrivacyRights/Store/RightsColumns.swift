import Foundation
import PrivacyKit

/// How the subject-rights stores turn columns back into domain values where it takes more than a
/// cast, shared by SQLite and PostgreSQL so both refuse the same unreadable rows.
enum RightsColumns {
  /// A request from its JSON body and its channel column (empty: none).
  static func request(body: String, channel: String) throws -> SubjectRequest {
    var request = try StoredJSON.decode(SubjectRequest.self, from: body)
    if !channel.isEmpty {
      guard let parsed = Channel(rawValue: channel) else { throw StoredRowUnreadable(table: "requests", key: request.id) }
      request.channel = parsed
    }
    return request
  }

  static func recipient(
    id: String, name: String, contact: String, purposeIDs: String, notes: String, transferCountry: String,
    transferSafeguard: String, notify: String, createdAt: Int64, updatedAt: Int64
  ) throws -> Recipient {
    Recipient(
      id: id, name: name, contact: contact, purposeIDs: try StoredJSON.decode([String].self, from: purposeIDs), notes: notes,
      transfer: transferCountry.isEmpty ? nil : ThirdCountryTransfer(country: transferCountry, safeguard: transferSafeguard),
      notify: try StoredJSON.decode(NoticeChannels.self, from: notify),
      createdAt: Microseconds(value: createdAt).date, updatedAt: Microseconds(value: updatedAt).date)
  }

  static func policy(
    name: String, inactivityDays: Int, scope: String, description: String, disabled: Bool, createdAt: Int64, updatedAt: Int64
  ) throws -> RetentionPolicy {
    let parsedScope: RetentionScope
    do {
      parsedScope = try RetentionScope(parsing: scope)
    } catch {
      throw StoredRowUnreadable(table: "retention_policies", key: name)
    }
    return RetentionPolicy(
      name: name, inactivityDays: inactivityDays, scope: parsedScope, description: description, disabled: disabled,
      createdAt: Microseconds(value: createdAt).date, updatedAt: Microseconds(value: updatedAt).date)
  }

  static func outboxKind(_ text: String, messageID: String) throws -> OutboxKind {
    guard let kind = OutboxKind(rawValue: text) else { throw StoredRowUnreadable(table: "outbox", key: messageID) }
    return kind
  }

  /// The scope prefix column: the prefix of a `.prefix` scope, else nil.
  static func scopePrefix(_ policy: RetentionPolicy) -> String? {
    if case .prefix(let text) = policy.scope { return text }
    return nil
  }
}
