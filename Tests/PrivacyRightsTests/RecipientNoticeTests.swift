import Crypto
import Foundation
import GRPCCore
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Testing

@Suite("Art 19 notices to recipients")
struct RecipientNoticeTests {
  @Test("a webhook secret is made when a notify_url is first set, shown once, rotated on request and dropped with the URL")
  func webhookSecret() async throws {
    try await withRightsService { client, _ async throws in
      func upsert(url: String, rotate: Bool = false) async throws -> Privacy_Rights_V1_UpsertRecipientResponse {
        try await client.upsertRecipient(.with {
          $0.recipientID = "acme"
          $0.name = "ACME GmbH"
          $0.contact = "privacy@acme.example"
          $0.notifyEmail = "dpo@acme.example"
          $0.notifyURL = url
          $0.rotateWebhookSecret = rotate
        })
      }
      let created = try await upsert(url: "https://hooks.acme.example/art19")
      #expect(created.webhookSecret.count == 43 && created.recipient.hasWebhookSecret_p)
      #expect(created.recipient.notifyEmail == "dpo@acme.example" && created.recipient.notifyURL == "https://hooks.acme.example/art19")
      #expect(try await upsert(url: "https://hooks.acme.example/art19").webhookSecret.isEmpty)
      let rotated = try await upsert(url: "https://hooks.acme.example/art19", rotate: true)
      #expect(!rotated.webhookSecret.isEmpty && rotated.webhookSecret != created.webhookSecret)
      let dropped = try await upsert(url: "")
      #expect(dropped.webhookSecret.isEmpty && !dropped.recipient.hasWebhookSecret_p)

      for bad in [
        Privacy_Rights_V1_UpsertRecipientRequest.with { $0.notifyURL = "http://hooks.acme.example/art19" },
        .with { $0.notifyURL = "https://user@hooks.acme.example/" },
        .with { $0.notifyURL = "https://hooks.acme.example/a b" },
        .with { $0.notifyEmail = "not an address" },
        .with { $0.rotateWebhookSecret = true },
      ] {
        var request = bad
        request.recipientID = "acme"
        request.name = "ACME GmbH"
        request.contact = "privacy@acme.example"
        try await expectRefused(client, .invalidArgument) { _ = try await client.upsertRecipient(request) }
      }
    }
  }

  @Test("NotifyRecipients queues a mail and a signed webhook notice per recipient once, answers MANUAL for one without a channel, and only for an IN_PROGRESS request")
  func notify() async throws {
    try await withRightsService { client, _ async throws in
      let secret = try await client.upsertRecipient(.with {
        $0.recipientID = "acme"
        $0.name = "ACME GmbH"
        $0.contact = "privacy@acme.example"
        $0.notifyEmail = "dpo@acme.example"
        $0.notifyURL = "https://hooks.acme.example/art19"
      }).webhookSecret
      _ = try await client.upsertRecipient(.with {
        $0.recipientID = "paper"
        $0.name = "Paper Mill"
        $0.contact = "Via Roma 1, Milano"
      })
      let request = try await client.open(right: .erasure, subject: "c-19")
      let notices: [Privacy_Rights_V1_RecipientNoticeDraft] = [
        .with {
          $0.recipientID = "acme"
          $0.summary = "personal data of subject c-19 erased (art 17): erase your copy"
          $0.fields = ["email", "phone"]
        },
        .with {
          $0.recipientID = "paper"
          $0.summary = "personal data of subject c-19 erased (art 17): erase your copy"
        },
      ]
      func notify() async throws -> [Privacy_Rights_V1_RecipientDelivery] {
        try await client.notifyRecipients(.with {
          $0.requestID = request.requestID
          $0.notices = notices
        }).deliveries
      }
      try await expectRefused(client, .failedPrecondition, "ILLEGAL_TRANSITION") { _ = try await notify() }
      _ = try await client.verifyByStaff(request.requestID)
      _ = try await client.start(request.requestID)

      let deliveries = try await notify()
      #expect(deliveries.map(\.recipientID) == ["acme", "acme", "paper"])
      #expect(deliveries.map(\.channel) == [.email, .webhook, .manual])
      #expect(deliveries.map(\.state) == [.queued, .queued, .manual] && deliveries[2].messageID.isEmpty)
      #expect(try await notify() == deliveries)

      let outbox = try await client.pendingOutbox().filter { $0.kind == .recipientNotice }
      #expect(outbox.map(\.messageID) == [deliveries[0].messageID, deliveries[1].messageID])
      let mail = outbox[0]
      #expect(mail.recipientEmail == "dpo@acme.example" && mail.recipientID == "acme" && mail.webhookURL.isEmpty)
      #expect(mail.subjectLine == "Art. 19 GDPR notice: request \(request.requestID)")
      #expect(mail.body.contains("personal data of subject c-19 erased") && mail.body.contains("Data concerned: email, phone"))
      let hook = outbox[1]
      #expect(hook.recipientEmail.isEmpty && hook.webhookURL == "https://hooks.acme.example/art19")
      let mac = HMAC<SHA256>.authenticationCode(for: Data(hook.body.utf8), using: SymmetricKey(data: Data(secret.utf8)))
      #expect(hook.webhookSignature == "sha256=" + mac.map { String(format: "%02x", $0) }.joined())
      let document = try #require(try JSONSerialization.jsonObject(with: Data(hook.body.utf8)) as? [String: Any])
      #expect(document["notice_id"] as? String == hook.messageID && document["request_id"] as? String == request.requestID)
      #expect(document["right"] as? String == "erasure" && document["subject_id"] as? String == "c-19")
      #expect(document["fields"] as? [String] == ["email", "phone"] && document["recipient_id"] as? String == "acme")

      // Delivered and failed as the relay reports them; the answers follow.
      _ = try await client.ackOutbox(.with { $0.messageIds = [mail.messageID] })
      _ = try await client.reportOutboxFailure(.with {
        $0.messageID = hook.messageID
        $0.failure = "webhook: HTTP 404"
        $0.permanent = true
      })
      let settled = try await notify()
      #expect(settled.map(\.state) == [.delivered, .failed, .manual])
      #expect(settled[1].delivery.lastFailure == "webhook: HTTP 404" && settled[0].hasSettledAt && settled[1].hasSettledAt)

      try await expectRefused(client, .notFound) {
        _ = try await client.notifyRecipients(.with {
          $0.requestID = request.requestID
          $0.notices = [.with { $0.recipientID = "nobody"; $0.summary = "x" }]
        })
      }
      for bad in [
        Privacy_Rights_V1_NotifyRecipientsRequest.with { $0.requestID = request.requestID },
        .with { $0.requestID = request.requestID; $0.notices = [.with { $0.recipientID = "acme" }] },
        .with { $0.requestID = request.requestID; $0.notices = [.with { $0.recipientID = "ACME"; $0.summary = "x" }] },
      ] {
        try await expectRefused(client, .invalidArgument) { _ = try await client.notifyRecipients(bad) }
      }
    }
  }
}

@Suite("Mails about a request in the requester's language")
struct RequestLanguageTests {
  @Test("a request opened in Italian has its verification, new deadline and completion mails in Italian; another language is English")
  func italian() async throws {
    try await withRightsService { client, _ async throws in
      let opened = try await client.openRequest(.with {
        $0.right = .access
        $0.subjectID = "c-it"
        $0.requesterEmail = "anna@example.it"
        $0.channel = .preferencePage
        $0.language = "it"
      }).request
      #expect(opened.language == "it")
      let started = try await client.startVerification(.with { $0.requestID = opened.requestID })
      let verification = try #require(try await client.pendingOutbox().first { $0.messageID == started.messageID })
      #expect(verification.language == "it" && verification.subjectLine == "Conferma la tua richiesta sulla protezione dei dati")
      #expect(verification.body.hasPrefix("Buongiorno,\n\nprima di dare seguito alla tua richiesta di accesso ai tuoi dati personali (art. 15 GDPR), ricevuta il "))
      #expect(verification.body.contains("oppure inserendo questo codice: \(verification.token)"))
      _ = try await client.extendDeadline(.with {
        $0.requestID = opened.requestID
        $0.months = 1
        $0.reason = "molte richieste"
      })
      let extended = try #require(try await client.pendingOutbox().last)
      #expect(extended.kind == .deadlineExtended && extended.subjectLine.hasPrefix("La tua richiesta sulla protezione dei dati: nuova scadenza "))
      #expect(extended.body.contains("Motivo: molte richieste"))

      let other = try await client.openRequest(.with {
        $0.right = .erasure
        $0.subjectID = "c-de"
        $0.requesterEmail = "jan@example.de"
        $0.channel = .email
        $0.language = "de-AT"
      }).request
      #expect(other.language == "en")
      try await expectRefused(client, .invalidArgument) {
        _ = try await client.openRequest(.with {
          $0.right = .erasure
          $0.requesterEmail = "jan@example.de"
          $0.channel = .email
          $0.language = "de AT"
        })
      }
    }
  }
}

@Suite("The outbox as the mail relay drains it")
struct OutboxDeliveryServiceTests {
  @Test("bad leases and failure reports are INVALID_ARGUMENT and change nothing; an unknown id is NOT_FOUND; a report defers or fails the message")
  func badInput() async throws {
    try await withRightsService { client, fixture async throws in
      let request = try await client.open(subject: "c-out")
      _ = try await client.startVerification(.with { $0.requestID = request.requestID })
      let message = try #require(try await client.pendingOutbox().first)
      let before = try await client.snapshot()
      for bad in [
        Privacy_Rights_V1_LeaseOutboxRequest.with { $0.maxMessages = 101 },
        .with { $0.maxMessages = -1 },
        .with { $0.leaseSeconds = 3601 },
        .with { $0.leaseSeconds = -5 },
      ] {
        try await expectRefused(client, .invalidArgument) { _ = try await client.leaseOutbox(bad) }
      }
      for bad in [
        Privacy_Rights_V1_ReportOutboxFailureRequest.with { $0.messageID = message.messageID },
        .with { $0.messageID = message.messageID; $0.failure = String(repeating: "x", count: 513) },
        .with { $0.messageID = message.messageID; $0.failure = "421 later\u{0}" },
        .with { $0.messageID = "not an id!"; $0.failure = "421 later" },
        .with { $0.messageID = message.messageID; $0.failure = "421 later"; $0.retryAt = fixture.clock.now().addingTimeInterval(31 * 86_400).protoTimestamp },
        .with { $0.messageID = message.messageID; $0.failure = "421 later"; $0.retryAt = .with { $0.seconds = 1; $0.nanos = -1 } },
      ] {
        try await expectRefused(client, .invalidArgument) { _ = try await client.reportOutboxFailure(bad) }
      }
      try await expectRefused(client, .notFound) {
        _ = try await client.reportOutboxFailure(.with {
          $0.messageID = "00000000-0000-0000-0000-000000000000"
          $0.failure = "421 later"
        })
      }
      #expect(try await client.snapshot() == before)

      let leased = try await client.leaseOutbox(.with { $0.leaseSeconds = 60 }).messages
      #expect(leased.map(\.messageID) == [message.messageID] && leased[0].delivery.hasLeasedUntil)
      #expect(try await client.leaseOutbox(.with { _ in }).messages.isEmpty)
      let retryAt = fixture.clock.now().addingTimeInterval(120)
      let deferred = try await client.reportOutboxFailure(.with {
        $0.messageID = message.messageID
        $0.failure = "end of DATA: 452 4.2.2 <anna@example.com> mailbox full"
        $0.retryAt = retryAt.protoTimestamp
      }).message
      #expect(deferred.delivery.attempts == 1 && deferred.delivery.lastFailure == "end of DATA: 452 4.2.2 [address] mailbox full")
      #expect(deferred.delivery.nextAttemptAt.date == retryAt.microsecondPrecision && !deferred.delivery.hasLeasedUntil)
      #expect(deferred.recipientEmail == "anna@example.com" && !deferred.token.isEmpty)
      #expect(try await client.leaseOutbox(.with { _ in }).messages.isEmpty)
      fixture.clock.advance(by: 121)
      #expect(try await client.leaseOutbox(.with { _ in }).messages.map(\.messageID) == [message.messageID])
    }
  }
}
