public import Foundation
import PrivacyKit

/// The API key of a local run: a new secret at every start of the suite, kept only in memory and
/// printed once; the keys file the gateway reads holds its SHA-256, never the secret. The key has
/// the `dpo` role of the shipped policy, the role that may do the everyday admin work the README
/// shows (records, consents, requests, blocklist, audit). Never use it in production.
public struct DevAdminKey: Sendable {
  public static let keyID = "dev-admin"
  /// `dev-admin.<secret>`, what `PRIVACY_API_KEY` takes.
  public let apiKey: String
  /// The keys file naming it (mode 0600).
  public let keysFile: String

  /// Writes `dev-gateway-keys.yaml` in `directory` for a freshly generated key.
  public static func generate(in directory: URL) throws -> DevAdminKey {
    let secret = SecureToken.generate()
    let path = directory.appendingPathComponent("dev-gateway-keys.yaml").path
    let text = """
      # Written by privacy-suite at every start; the secret is printed once and never stored.
      keys:
        - id: \(keyID)
          role: dpo
          actor: dev-admin
          sha256: \(SecureToken.hash(secret))

      """
    let manager = FileManager.default
    try? manager.removeItem(atPath: path)
    guard manager.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
      throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path])
    }
    return DevAdminKey(apiKey: "\(keyID).\(secret)", keysFile: path)
  }
}
