public import Foundation
public import Logging
import PrivacyKit
public import ServiceLifecycle

/// Delivers the outbox messages of consent and rights over SMTP (and art 19 webhook notices as
/// signed POSTs), until its task is cancelled or the service group shuts down. Each round leases
/// a batch from every outbox, sends the batch's messages at once (one connection each), and
/// acknowledges in one call the messages the mail server answered 250 to their DATA (or the
/// endpoint 2xx), once the batch is done. A relay that dies between a 250 and
/// the acknowledgement sends the message again once its lease ends, with the same Message-ID (at
/// least once, never after the acknowledgement). Several relays may share the outboxes: a lease
/// is theirs alone.
public struct MailRelay: Service {
  public struct Settings: Sendable {
    public var sender: MailSender
    public var retry: RetryPolicy
    /// Messages leased per outbox and round, sent at once.
    public var batchSize: Int
    /// How long a lease holds; longer than a delivery may take.
    public var leaseSeconds: Int
    /// The first pause after a round that found nothing to send (or could not reach the
    /// gateway); it doubles while the outboxes stay empty, up to 30 s.
    public var idlePause: Duration

    public init(sender: MailSender, retry: RetryPolicy = RetryPolicy(), batchSize: Int = 10, leaseSeconds: Int = 300, idlePause: Duration = .seconds(2)) {
      self.sender = sender
      self.retry = retry
      self.batchSize = batchSize
      self.leaseSeconds = leaseSeconds
      self.idlePause = idlePause
    }
  }

  private let outboxes: [any RelayOutbox]
  private let smtp: SMTPClient
  private let webhooks: WebhookClient
  private let settings: Settings
  private let logger: Logger

  public init(outboxes: [any RelayOutbox], smtp: SMTPClient, webhooks: WebhookClient, settings: Settings, logger: Logger) {
    self.outboxes = outboxes
    self.smtp = smtp
    self.webhooks = webhooks
    self.settings = settings
    self.logger = logger
  }

  /// A shutdown lets the deliveries under way finish and acknowledge; only the pause between
  /// rounds is cut short. Each lease is a write the gateway audits, so an idle relay waits longer
  /// after each empty round (doubling from `idlePause` up to `longestIdlePause`), and any mail
  /// brings the pause back down.
  public func run() async throws {
    var pause = settings.idlePause
    while !Task.isCancelled && !Task.isShuttingDownGracefully {
      var sent = 0
      for outbox in outboxes {
        sent += await round(outbox)
      }
      if sent > 0 {
        pause = settings.idlePause
        continue
      }
      try? await cancelWhenGracefulShutdown { [pause] in try await Task.sleep(for: pause) }
      pause = min(pause * 2, max(settings.idlePause, Self.longestIdlePause))
    }
  }

  /// The longest pause between two looks at idle outboxes.
  static let longestIdlePause = Duration.seconds(30)

  /// One lease of `outbox`, delivered; answers how many messages it held.
  func round(_ outbox: any RelayOutbox) async -> Int {
    let batch: [OutgoingMail]
    do {
      batch = try await outbox.lease(max: settings.batchSize, seconds: settings.leaseSeconds)
    } catch {
      logger.warning("cannot lease from the outbox", metadata: ["outbox": "\(outbox.name)", "error": "\(error)"])
      return 0
    }
    let delivered = await withTaskGroup(of: String?.self) { group in
      for mail in batch {
        group.addTask { await deliver(mail, from: outbox) ? mail.id : nil }
      }
      return await group.reduce(into: [String]()) { ids, id in if let id { ids.append(id) } }
    }
    guard !delivered.isEmpty else { return batch.count }
    do {
      try await outbox.acknowledge(delivered)
      logger.info("delivered", metadata: ["outbox": "\(outbox.name)", "messages": "\(delivered.count)"])
    } catch {
      // Delivered but not acknowledged: sent again when the lease ends, with the same Message-IDs.
      logger.error(
        "delivered, but the acknowledgement failed", metadata: ["outbox": "\(outbox.name)", "messages": "\(delivered.count)", "error": "\(error)"])
    }
    return batch.count
  }

  /// Sends one message (or POSTs one webhook notice); whether it was taken. A failure is
  /// reported to the outbox at once. Logs name the outbox message, never the address or the text.
  private func deliver(_ mail: OutgoingMail, from outbox: any RelayOutbox) async -> Bool {
    let metadata: Logger.Metadata = ["outbox": "\(outbox.name)", "message.id": "\(mail.id)", "attempt": "\(mail.attempts + 1)"]
    let failure: (text: String, transient: Bool, code: Int)
    do {
      if mail.webhookURL.isEmpty {
        guard !mail.recipient.isEmpty else { throw SMTPFailure.unusableAddress }
        let message = try mail.message(from: settings.sender, at: Date()).rendered()
        _ = try await smtp.send(from: settings.sender.address, to: [mail.recipient], message: message)
      } else {
        _ = try await webhooks.post(to: mail.webhookURL, body: mail.text, signature: mail.webhookSignature, noticeID: mail.id)
      }
      return true
    } catch let error as SMTPFailure {
      failure = (error.description, error.isTransient, error.code)
    } catch let error as WebhookFailure {
      failure = (error.description, error.isTransient, 0)
    } catch {
      failure = ("composing: \(error)", false, 0)
    }
    let retryAt = settings.retry.retryAt(after: mail.attempts + 1, transient: failure.transient, now: Date())
    var text = failure.text
    if retryAt == nil && failure.transient { text = "gave up after \(mail.attempts + 1) attempts: " + text }
    do {
      try await outbox.reportFailure(mail.id, failure: String(text.prefix(512)), retryAt: retryAt)
      logger.warning(retryAt == nil ? "failed for good" : "not delivered; will retry", metadata: metadata.merging(["reply.code": "\(failure.code)"]) { $1 })
    } catch {
      logger.error("not delivered, and the report failed", metadata: metadata.merging(["error": "\(error)"]) { $1 })
    }
    return false
  }
}

extension SMTPFailure {
  /// The reply code, or 0 when no reply came; for logs, which never carry the reply's text.
  var code: Int {
    switch self {
    case .transient(_, let reply), .permanent(_, let reply): reply.code
    default: 0
    }
  }
}
