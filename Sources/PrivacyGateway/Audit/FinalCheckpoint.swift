import PrivacyKit
import Synchronization

/// Signs a checkpoint of the audit chain when the gateway stops, after the server has drained
/// (companions stop last), so the last entries are covered by a checkpoint too.
final class FinalCheckpoint: ServerCompanion {
  private let audit: AuditLog
  private let stopped: AsyncStream<Void>
  private let signal: AsyncStream<Void>.Continuation

  init(audit: AuditLog) {
    self.audit = audit
    (stopped, signal) = AsyncStream.makeStream()
  }

  func run() async throws {
    for await _ in stopped { break }
    // From a task of its own: a cancelled task could not start the write.
    let audit = self.audit
    await Task { await audit.checkpoint() }.value
  }

  func stop() {
    signal.yield()
    signal.finish()
  }
}
