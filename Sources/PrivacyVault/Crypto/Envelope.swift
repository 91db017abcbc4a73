public import Crypto
public import Foundation
import PrivacyKit

/// A key stored only wrapped (AES-256-GCM) by a key-encryption key of the keyring. The
/// authenticated data binds what the key is for, its owner, its own id and the wrapping key's
/// id, so a wrapped key copied to another owner or relabelled fails to open.
public struct WrappedKey: Sendable, Equatable {
  /// What the key is for (`data` for subject data keys, `blind_index` for the vault's index key).
  public var purpose: String
  /// The subject whose data key this is; `vault` for vault-wide keys.
  public var owner: String
  /// The wrapped key's own id (bound into the authenticated data of everything it seals).
  public var keyID: String
  /// The key-encryption key it is wrapped under.
  public var kekID: String
  /// Nonce, ciphertext and tag.
  public var ciphertext: [UInt8]
  public var createdAt: Date

  public init(purpose: String, owner: String, keyID: String, kekID: String, ciphertext: [UInt8], createdAt: Date) {
    self.purpose = purpose
    self.owner = owner
    self.keyID = keyID
    self.kekID = kekID
    self.ciphertext = ciphertext
    self.createdAt = createdAt
  }
}

/// Envelope encryption: random keys, wrapped by the keyring.
public enum Envelope {
  public static let dataKeyPurpose = "data"
  public static let blindIndexPurpose = "blind_index"
  public static let vaultOwner = "vault"

  /// A fresh random 256-bit key and a random id for it.
  public static func newKey() -> (id: String, key: SymmetricKey) {
    let id = SymmetricKey(size: .bits128).withUnsafeBytes { Array($0) }.hex
    return (id, SymmetricKey(size: .bits256))
  }

  /// Wraps `key` under the keyring's active key.
  public static func wrap(
    _ key: SymmetricKey, keyID: String, purpose: String, owner: String, keyring: Keyring, now: Date
  ) -> WrappedKey {
    var wrapped = WrappedKey(
      purpose: purpose, owner: owner, keyID: keyID, kekID: keyring.activeKeyID, ciphertext: [], createdAt: now)
    let plain = key.withUnsafeBytes { Array($0) }
    // AES-GCM with a random nonce only fails for a bad key size, which a keyring never holds.
    let sealed = try! AES.GCM.seal(plain, using: keyring.activeKey, authenticating: associatedData(wrapped))
    wrapped.ciphertext = Array(sealed.combined!)
    return wrapped
  }

  /// Opens a wrapped key with the keyring.
  public static func unwrap(_ wrapped: WrappedKey, keyring: Keyring) throws(VaultError) -> SymmetricKey {
    guard let kek = keyring.key(id: wrapped.kekID) else {
      throw .keyNotConfigured(keyID: wrapped.kekID, subjectID: wrapped.owner == vaultOwner ? nil : wrapped.owner)
    }
    do {
      let box = try AES.GCM.SealedBox(combined: wrapped.ciphertext)
      let plain = try AES.GCM.open(box, using: kek, authenticating: associatedData(wrapped))
      guard plain.count == 32 else { throw VaultError.dataKeyUnreadable(subjectID: wrapped.owner) }
      return SymmetricKey(data: plain)
    } catch {
      throw .dataKeyUnreadable(subjectID: wrapped.owner)
    }
  }

  /// The same key wrapped under the keyring's active key.
  public static func rewrap(_ wrapped: WrappedKey, keyring: Keyring) throws(VaultError) -> WrappedKey {
    let key = try unwrap(wrapped, keyring: keyring)
    return wrap(key, keyID: wrapped.keyID, purpose: wrapped.purpose, owner: wrapped.owner, keyring: keyring, now: wrapped.createdAt)
  }

  private static func associatedData(_ wrapped: WrappedKey) -> [UInt8] {
    var encoder = CanonicalEncoder()
    encoder.append("privacy.vault.v1/wrapped-key")
    encoder.append(wrapped.purpose)
    encoder.append(wrapped.owner)
    encoder.append(wrapped.keyID)
    encoder.append(wrapped.kekID)
    return encoder.bytes
  }
}

/// A subject's data key, unwrapped for the duration of one call. Seals values with AES-256-GCM;
/// the authenticated data binds the subject id, the field name, the key id and what the bytes
/// are (a value or the IP address of its source), so a ciphertext moved anywhere else fails to
/// open instead of yielding a wrong value.
public struct SubjectKey: Sendable {
  public enum Slot: String, Sendable {
    case value
    case sourceIP = "source_ip"
  }

  public let subjectID: String
  public let keyID: String
  private let key: SymmetricKey

  public init(subjectID: String, keyID: String, key: SymmetricKey) {
    self.subjectID = subjectID
    self.keyID = keyID
    self.key = key
  }

  public func seal(_ text: String, field: String, slot: Slot = .value) -> [UInt8] {
    let sealed = try! AES.GCM.seal(Array(text.utf8), using: key, authenticating: associatedData(field: field, slot: slot))
    return Array(sealed.combined!)
  }

  /// Opens bytes sealed for `field` of this subject under this key.
  /// - Parameter storedKeyID: the key id stored beside the bytes; must be this key's.
  public func open(_ bytes: [UInt8], field: String, storedKeyID: String, slot: Slot = .value) throws(VaultError) -> String {
    do {
      guard storedKeyID == keyID else { throw VaultError.valueUnreadable(subjectID: subjectID, field: field) }
      let box = try AES.GCM.SealedBox(combined: bytes)
      let plain = try AES.GCM.open(box, using: key, authenticating: associatedData(field: field, slot: slot))
      guard let text = String(validating: plain, as: UTF8.self) else {
        throw VaultError.valueUnreadable(subjectID: subjectID, field: field)
      }
      return text
    } catch {
      throw .valueUnreadable(subjectID: subjectID, field: field)
    }
  }

  private func associatedData(field: String, slot: Slot) -> [UInt8] {
    var encoder = CanonicalEncoder()
    encoder.append("privacy.vault.v1/" + slot.rawValue)
    encoder.append(subjectID)
    encoder.append(field)
    encoder.append(keyID)
    return encoder.bytes
  }
}

/// The blind index: HMAC-SHA256 of a normalized value under a per-field key derived from the
/// vault's index key, so equal values can be found without decrypting any row, and equal values
/// of different fields do not share a digest.
public struct BlindIndex: Sendable {
  private let key: SymmetricKey
  /// Derived from `key`, for `combinationDigest`.
  private let combinationKey: SymmetricKey

  public init(key: SymmetricKey) {
    self.key = key
    self.combinationKey = SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: Array("combination:".utf8), using: key)))
  }

  public func digest(field: String, value: String) -> [UInt8] {
    let fieldKey = SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: Array("field:\(field)".utf8), using: key)))
    let normalized = SearchNormalization.normalize(value)
    return Array(HMAC<SHA256>.authenticationCode(for: Array(normalized.utf8), using: fieldKey))
  }

  /// A keyed digest of a combination of exact values (field -> value), for the k-anonymity
  /// counts: equal combinations share it, and the stored digest reveals no value.
  public func combinationDigest(_ values: [String: String]) -> [UInt8] {
    var encoder = CanonicalEncoder()
    for name in values.keys.sorted() {
      encoder.append(name)
      encoder.append(values[name]!)
    }
    return Array(HMAC<SHA256>.authenticationCode(for: encoder.bytes, using: combinationKey).prefix(16))
  }
}
