import Crypto
public import Foundation
public import PrivacyKit

/// The secret of the audit chain (`GATEWAY_AUDIT_KEY_FILE`, or `GATEWAY_AUDIT_KEY`: at least 32
/// random bytes, base64). Each entry's hash is an HMAC-SHA256 under it, so someone who can edit
/// the database but not read the key cannot rebuild a chain that verifies. Checkpoints are signed
/// with an Ed25519 key derived from it (HKDF), whose public half travels with each checkpoint, so
/// an exported checkpoint is checked without the secret.
public struct AuditKey: Sendable {
  private let secret: SymmetricKey
  /// HMAC's state once keyed, copied for each link instead of keying it again for every entry.
  private let keyedMAC: HMAC<SHA256>
  private let signing: Curve25519.Signing.PrivateKey

  public static let minimumBytes = 32

  public init(secret: Data) throws(ConfigurationError) {
    guard secret.count >= Self.minimumBytes else {
      throw .malformed("GATEWAY_AUDIT_KEY_FILE", "must hold at least \(Self.minimumBytes) bytes, base64-encoded")
    }
    self.secret = SymmetricKey(data: secret)
    self.keyedMAC = HMAC<SHA256>(key: self.secret)
    let seed = HKDF<SHA256>.deriveKey(
      inputKeyMaterial: self.secret, info: Data("privacy gateway audit checkpoint signing".utf8), outputByteCount: 32)
    // A 32-byte seed is always a valid Ed25519 private key.
    self.signing = try! Curve25519.Signing.PrivateKey(rawRepresentation: seed.withUnsafeBytes { Data($0) })
  }

  /// The key from the environment; in a local run (`ALLOW_INSECURE_DEV=1`) on SQLite without
  /// one, a key kept beside the database file (`<database>.audit-key`, created on first start,
  /// mode 0600). A PostgreSQL database (`keptBeside` nil) always needs the key set: every gateway
  /// on it must chain with the same one.
  public static func load(_ environment: EnvironmentReader, keptBeside database: String?, allowInsecureDev: Bool) throws(ConfigurationError) -> AuditKey {
    if let text = try environment.secret("GATEWAY_AUDIT_KEY") {
      guard let data = Data(base64Encoded: text) else { throw .malformed("GATEWAY_AUDIT_KEY_FILE", "must hold base64") }
      return try AuditKey(secret: data)
    }
    guard let database else {
      throw .malformed(
        "GATEWAY_AUDIT_KEY_FILE", "is required with a PostgreSQL database: every gateway on it chains the audit log with this one key")
    }
    guard allowInsecureDev else {
      throw .malformed("GATEWAY_AUDIT_KEY_FILE", "is required: it keys the audit chain (32 random bytes, base64; or ALLOW_INSECURE_DEV=1 for a local run)")
    }
    let path = database + ".audit-key"
    if let text = try? String(contentsOfFile: path, encoding: .utf8), let data = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)) {
      return try AuditKey(secret: data)
    }
    let data = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
    guard FileManager.default.createFile(atPath: path, contents: Data(data.base64EncodedString().utf8), attributes: [.posixPermissions: 0o600])
    else { throw .malformed("GATEWAY_AUDIT_KEY_FILE", "is not set and \(path) could not be created") }
    return try AuditKey(secret: data)
  }

  /// The keyed link of the audit chain: HMAC-SHA256 over the previous hash and the content.
  func link(previous: String, content: CanonicalEncoder) -> String {
    var mac = keyedMAC
    var previous = previous
    previous.withUTF8 { mac.update(data: UnsafeRawBufferPointer($0)) }
    content.bytes.withUnsafeBytes { mac.update(data: $0) }
    return mac.finalize().withUnsafeBytes { $0.hex }
  }

  /// The public key checkpoints are verified with.
  public var publicKey: Data { signing.publicKey.rawRepresentation }

  func sign(_ message: Data) throws -> Data { try signing.signature(for: message) }

  /// Whether `signature` over `message` verifies under `publicKey`.
  static func isValid(signature: Data, for message: Data, publicKey: Data) -> Bool {
    guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: publicKey) else { return false }
    return key.isValidSignature(signature, for: message)
  }
}
