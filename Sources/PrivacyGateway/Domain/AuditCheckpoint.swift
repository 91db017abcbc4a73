public import Foundation
import PrivacyKit

/// A signed statement that the audit chain's entry `sequence` had `hash` at `signedAt`. Kept
/// outside the gateway's database, it lets VerifyAudit detect a truncated log (it ends before the
/// checkpoint) and a rebuilt one (the entry there has another hash).
public struct AuditCheckpoint: Sendable, Equatable {
  public var sequence: UInt64
  public var hash: String
  public var signedAt: Date
  /// Ed25519 signature over `signedMessage`.
  public var signature: Data
  /// The key that verifies it (derived from the audit key).
  public var publicKey: Data

  public init(sequence: UInt64, hash: String, signedAt: Date, signature: Data, publicKey: Data) {
    self.sequence = sequence
    self.hash = hash
    self.signedAt = signedAt.microsecondPrecision
    self.signature = signature
    self.publicKey = publicKey
  }

  /// Signs the head of the chain.
  init(head: ChainHead, at time: Date, key: AuditKey) throws {
    let time = time.microsecondPrecision
    let message = Self.signedMessage(sequence: head.sequence, hash: head.hash, signedAt: time)
    self.init(sequence: head.sequence, hash: head.hash, signedAt: time, signature: try key.sign(message), publicKey: key.publicKey)
  }

  /// The canonical bytes the signature covers.
  static func signedMessage(sequence: UInt64, hash: String, signedAt: Date) -> Data {
    var encoder = CanonicalEncoder()
    encoder.append("privacy.gateway.v1 audit checkpoint")
    encoder.append(sequence)
    encoder.append(hash)
    encoder.append(signedAt)
    return Data(encoder.bytes)
  }

  /// Whether this gateway's audit key signed it.
  func isSigned(by key: AuditKey) -> Bool {
    publicKey == key.publicKey
      && AuditKey.isValid(signature: signature, for: Self.signedMessage(sequence: sequence, hash: hash, signedAt: signedAt), publicKey: publicKey)
  }
}
