import Crypto
public import Foundation

/// Secrets for a local run, generated once under the data directory (mode 0600) and reused, so
/// encrypted data stays readable across runs. Never use them in production.
public struct DevSecrets: Sendable {
  public let internalTokenFile: String
  public let vaultMasterKeyFile: String
  public let blocklistPepperFile: String
  /// Keys the gateway's audit chain (`GATEWAY_AUDIT_KEY_FILE`).
  public let gatewayAuditKeyFile: String
  /// Signs consent receipts (`RECEIPT_SIGNING_KEY_FILE`: an Ed25519 seed).
  public let receiptSigningKeyFile: String

  public static func ensure(in directory: URL) throws -> DevSecrets {
    let manager = FileManager.default
    try manager.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    func ensureFile(_ name: String, _ make: () -> String) throws -> String {
      let path = directory.appendingPathComponent(name).path
      if !manager.fileExists(atPath: path) {
        guard manager.createFile(atPath: path, contents: Data((make() + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
          throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path])
        }
      }
      return path
    }
    func randomBase64() -> String {
      SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }.base64EncodedString()
    }
    return DevSecrets(
      internalTokenFile: try ensureFile("dev-internal-token", randomBase64),
      vaultMasterKeyFile: try ensureFile("dev-vault-master-key", randomBase64),
      blocklistPepperFile: try ensureFile("dev-blocklist-pepper", randomBase64),
      gatewayAuditKeyFile: try ensureFile("dev-gateway-audit-key", randomBase64),
      receiptSigningKeyFile: try ensureFile("dev-receipt-signing-key", randomBase64)
    )
  }
}
