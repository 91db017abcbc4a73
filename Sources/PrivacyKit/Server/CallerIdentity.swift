public import GRPCCore
import Foundation

/// Metadata keys between the gateway (or a trusted operator tool) and the backends.
public enum MetadataKey {
  /// The shared secret backends require.
  public static let internalToken = "x-internal-token"
  /// Who the caller is (an API key's actor name or a JWT subject).
  public static let actor = "x-privacy-actor"
  /// The caller's role.
  public static let role = "x-privacy-role"
  /// Correlates one client call across services and logs.
  public static let requestID = "x-request-id"
  /// In the consent service's trailers: the last ledger event its memory held when the call
  /// ended, so that a follower of the ledger knows what it must hold to reflect the call.
  public static let ledgerSequence = "x-ledger-sequence"
}

/// Who made a call, as the gateway vouched for it in metadata. Backends record it in their logs
/// and ledgers; they never take it from request fields.
public struct CallerIdentity: Sendable, Equatable {
  public var actor: String
  public var role: String
  public var requestID: String

  public init(actor: String, role: String, requestID: String) {
    self.actor = actor
    self.role = role
    self.requestID = requestID
  }

  /// Reads the identity metadata; missing values become `unknown` and a fresh request id.
  public init(metadata: Metadata) {
    func first(_ key: String) -> String? {
      metadata[stringValues: key].first(where: { _ in true }).map { String($0.prefix(200)) }.flatMap { $0.isEmpty ? nil : $0 }
    }
    self.actor = first(MetadataKey.actor) ?? "unknown"
    self.role = first(MetadataKey.role) ?? "unknown"
    self.requestID = first(MetadataKey.requestID) ?? RequestID.make()
  }

  /// The metadata a client sends to present this identity to a backend.
  public func metadata(internalToken: String?) -> Metadata {
    var metadata: Metadata = [
      MetadataKey.actor: .string(actor),
      MetadataKey.role: .string(role),
      MetadataKey.requestID: .string(requestID),
    ]
    if let internalToken { metadata.addString(internalToken, forKey: MetadataKey.internalToken) }
    return metadata
  }
}
