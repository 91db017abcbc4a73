import Foundation
import PrivacyKit

/// The launcher's mail relay: started when the caller sets `SMTP_URL` (with the caller's own
/// `SMTP_*` and `MAIL_*` variables, which it inherits), sending through the gateway with the dev
/// mailer key (or `MAIL_RELAY_API_KEY_FILE` beside the caller's own keys). Without `SMTP_URL`
/// nothing is sent and the messages wait in the outboxes, as the launcher says.
enum SuiteMailRelay {
  static let executableName = "mail-relay"
  /// What the relay prints once it runs, followed by the mail server's address.
  static let readyPrefix = "relaying to "
  /// The sender when the caller names none: the local run's mail should not pass for anyone's.
  static let defaultSender = "Privacy suite (local run) <privacy@localhost>"

  /// The relay's own variables: the gateway, its key and the CA vouching for the gateway.
  static func environment(gateway: ServiceAddress, keyFile: String, certificates: DevCertificates?, inherited: [String: String]) -> [String: String] {
    var environment = ["PRIVACY_GATEWAY_ADDR": gateway.description, "MAIL_RELAY_API_KEY_FILE": keyFile]
    if inherited["MAIL_FROM"] == nil { environment["MAIL_FROM"] = defaultSender }
    if let certificates {
      environment["PRIVACY_CA_FILE"] = certificates.caFile
    } else {
      environment["ALLOW_INSECURE_DEV"] = "1"
    }
    return environment
  }
}
