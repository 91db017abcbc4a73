public import Foundation
import PrivacyKit

/// The API keys of a local run: new secrets at every start of the suite, kept only in memory and
/// printed once; the keys file the gateway reads holds their SHA-256, never a secret. The admin
/// key has the `dpo` role of the shipped policy, the role that may do the everyday admin work the
/// README shows (records, consents, requests, blocklist, audit); the mailer key has the `service`
/// role, which fetches confirmation messages and records confirmations (the double opt-in step of
/// the walkthrough), and is the mail relay's (`MAIL_RELAY_API_KEY_FILE`). The preference center's
/// key has the `preference-center` role. These two secrets go to files of their own (mode 0600)
/// that the page and the relay read, the only secrets of these written down. Never use them in
/// production.
public struct DevAdminKey: Sendable {
  public static let keyID = "dev-admin"
  public static let mailerKeyID = "dev-mailer"
  public static let pageKeyID = "dev-preference-center"
  /// `dev-admin.<secret>`, what `PRIVACY_API_KEY` takes.
  public let apiKey: String
  /// `dev-mailer.<secret>`.
  public let mailerKey: String
  /// The keys file naming them (mode 0600).
  public let keysFile: String
  /// The preference center's key, `dev-preference-center.<secret>`, in a file (mode 0600).
  public let pageKeyFile: String
  /// The mailer key in a file (mode 0600), for the mail relay.
  public let mailerKeyFile: String

  /// Writes `dev-gateway-keys.yaml` in `directory` for freshly generated keys.
  public static func generate(in directory: URL) throws -> DevAdminKey {
    let secret = SecureToken.generate()
    let mailerSecret = SecureToken.generate()
    let pageSecret = SecureToken.generate()
    let path = directory.appendingPathComponent("dev-gateway-keys.yaml").path
    let pageKeyFile = directory.appendingPathComponent("dev-preference-center.key").path
    let mailerKeyFile = directory.appendingPathComponent("dev-mailer.key").path
    let text = """
      # Written by privacy-suite at every start; the secrets are printed once and never stored.
      keys:
        - id: \(keyID)
          role: dpo
          actor: dev-admin
          sha256: \(SecureToken.hash(secret))
        - id: \(mailerKeyID)
          role: service
          actor: dev-mailer
          sha256: \(SecureToken.hash(mailerSecret))
        - id: \(pageKeyID)
          role: preference-center
          actor: dev-preference-center
          sha256: \(SecureToken.hash(pageSecret))

      """
    try writePrivate(text, to: path)
    try writePrivate("\(pageKeyID).\(pageSecret)\n", to: pageKeyFile)
    try writePrivate("\(mailerKeyID).\(mailerSecret)\n", to: mailerKeyFile)
    return DevAdminKey(
      apiKey: "\(keyID).\(secret)", mailerKey: "\(mailerKeyID).\(mailerSecret)", keysFile: path, pageKeyFile: pageKeyFile,
      mailerKeyFile: mailerKeyFile)
  }

  /// Replaces the file with `text`, readable by its owner only.
  private static func writePrivate(_ text: String, to path: String) throws {
    let manager = FileManager.default
    try? manager.removeItem(atPath: path)
    guard manager.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
      throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path])
    }
  }
}
