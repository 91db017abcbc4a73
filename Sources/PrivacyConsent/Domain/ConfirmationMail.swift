import Foundation
import PrivacyKit

/// The words of a confirmation mail (double opt-in, preference change), in the person's language.
enum ConfirmationMail {
  static func subject(_ kind: ConfirmationKind, _ language: MailLanguage) -> String {
    switch (kind, language) {
    case (.doubleOptIn, .en): "Please confirm your email subscription"
    case (.doubleOptIn, .it): "Conferma la tua iscrizione alle nostre email"
    case (.preferenceChange, .en): "Please confirm your preference changes"
    case (.preferenceChange, .it): "Conferma le modifiche alle tue preferenze"
    }
  }

  /// The text: what to confirm, the link, until when it works, and the footer with the
  /// preference page.
  static func body(_ kind: ConfirmationKind, _ language: MailLanguage, link: String, expiresAt: Date, preferenceURL: String) -> String {
    let ask: String
    let until: String
    switch (kind, language) {
    case (.doubleOptIn, .en): ask = "Please confirm that you want to receive our emails:"
    case (.doubleOptIn, .it): ask = "Conferma che desideri ricevere le nostre email:"
    case (.preferenceChange, .en): ask = "Please confirm the changes to your privacy preferences:"
    case (.preferenceChange, .it): ask = "Conferma le modifiche alle tue preferenze sulla privacy:"
    }
    switch language {
    case .en: until = "This link works until \(expiresAt.ISO8601Format())."
    case .it: until = "Il link funziona fino al \(expiresAt.ISO8601Format())."
    }
    return "\(ask)\n\n\(link)\n\n\(until)" + language.footer(preferenceURL)
  }
}
