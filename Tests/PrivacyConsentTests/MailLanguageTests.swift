import Foundation
import GRPCCore
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Testing

@Suite("Confirmation mails in the person's language")
struct MailLanguageTests {
  @Test("a double opt-in and a preference change asked in Italian are written in Italian; another language is English; a malformed tag is refused")
  func languages() async throws {
    try await withConsentService { client, _ async throws in
      _ = try await client.setOptIn("c-it", .singleOptInWebform, by: .webform)
      let started = try await client.startDoubleOptIn(.with {
        $0.subjectID = "c-it"
        $0.emailAddress = "anna@example.it"
        $0.language = "it-CH"
      })
      let italian = try #require(try await client.pendingOutbox().first { $0.messageID == started.messageID })
      #expect(italian.language == "it" && italian.subjectLine == "Conferma la tua iscrizione alle nostre email")
      #expect(italian.body.hasPrefix("Conferma che desideri ricevere le nostre email:\n\n\(italian.link)\n\nIl link funziona fino al "))
      #expect(italian.body.hasSuffix("\n\n-- \nLe tue preferenze sulla privacy: \(italian.preferenceURL)"))

      _ = try await client.setOptIn("c-de", .singleOptInWebform, by: .webform)
      let german = try await client.startDoubleOptIn(.with {
        $0.subjectID = "c-de"
        $0.emailAddress = "jan@example.de"
        $0.language = "de"
      })
      let english = try #require(try await client.pendingOutbox().first { $0.messageID == german.messageID })
      #expect(english.language == "en" && english.subjectLine == "Please confirm your email subscription")
      #expect(english.body.hasSuffix("\n\n-- \nYour privacy preferences: \(english.preferenceURL)"))

      try await client.upsert(purpose("newsletter"))
      let change = try await client.requestPreferenceChange(.with {
        $0.subjectID = "c-it"
        $0.emailAddress = "anna@example.it"
        $0.changes = [.with { $0.consent = .with { $0.purposeID = "newsletter"; $0.decision = .granted } }]
        $0.language = "it"
      })
      let confirmation = try #require(try await client.pendingOutbox().first { $0.messageID == change.messageID })
      #expect(confirmation.language == "it" && confirmation.subjectLine == "Conferma le modifiche alle tue preferenze")

      let before = try await client.pendingOutbox()
      let refused = await capturedRPCError {
        try await client.startDoubleOptIn(.with {
          $0.subjectID = "c-de"
          $0.emailAddress = "jan@example.de"
          $0.language = "it\nBcc: x"
        })
      }
      #expect(refused?.code == .invalidArgument && refused?.message == "language must be a language tag such as en or it-CH")
      #expect(try await client.pendingOutbox() == before)
    }
  }
}
