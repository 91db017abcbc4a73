import Foundation
import Logging
import PrivacyKit
import PrivacyProtocol

/// Runs the retention sweep on a schedule (`RETENTION_SWEEP_INTERVAL`, default daily), so that
/// retention does not wait for an operator. The time of the last complete sweep is kept in the
/// gateway's database and a lease lets one gateway of several sweep at a time, so the schedule
/// holds across restarts and replicas. The first sweep comes one interval after the schedule
/// first starts. Each subject it erases gets an audit entry (actor `gateway`, role
/// `retention-sweep`); a sweep cut short by its time budget is taken up again at the next tick.
final class RetentionScheduler: ServerCompanion {
  static let name = "retention-sweep"
  /// When purpose retention last ran to the end (PurposeRetention).
  static let purposeRetentionCursor = "purpose-retention"
  static let role = "retention-sweep"
  /// The longest one sweep may run before it stops and continues at the next tick.
  static let budget = Duration.seconds(3600)

  private let gateway: Gateway
  private let store: any ReactorStore
  private let interval: Duration
  private let holder = UUID().uuidString.lowercased()
  private let logger: Logger
  private let running = StoppableLoop()

  init(gateway: Gateway, store: any ReactorStore, interval: Duration, logger: Logger) {
    self.gateway = gateway
    self.store = store
    self.interval = interval
    self.logger = logger
  }

  func run() async throws {
    await running.run { await self.loop() }
  }

  func stop() { running.stop() }

  private func loop() async {
    let tick = min(interval, .seconds(60))
    while !Task.isCancelled {
      do {
        try await Task.sleep(for: tick)
        try await sweepIfDue()
      } catch {
        if Task.isCancelled { break }
        logger.warning("scheduled retention sweep failed; retried at the next tick", metadata: ["error.type": "\(type(of: error))"])
      }
    }
  }

  /// Sweeps when the last complete sweep is an interval old and no other gateway holds the lease.
  private func sweepIfDue() async throws {
    let now = Date()
    let last = try await store.cursor(Self.name)
    if last == 0 {
      try await store.saveCursor(Self.name, UInt64(now.timeIntervalSince1970))
      return
    }
    guard now.timeIntervalSince1970 - Double(last) >= interval.timeInterval else { return }
    guard try await store.acquireLease(Self.name, holder: holder, now: now, until: now + Self.budget.timeInterval + 60) else { return }
    defer {
      let store = self.store
      let holder = self.holder
      Task { try? await store.releaseLease(Self.name, holder: holder) }
    }
    // Another gateway may have swept between the reading above and the lease.
    guard now.timeIntervalSince1970 - Double(try await store.cursor(Self.name)) >= interval.timeInterval else { return }
    let context = gateway.systemContext(
      role: Self.role, method: Privacy_Gateway_V1_AdminService.Method.RunRetentionSweep.descriptor.fullyQualifiedMethod, budget: Self.budget)
    // Purpose retention reads only the subjects whose limit ran out since its last complete run;
    // its first run (a new install, or a gateway upgraded from a version without it) reads all.
    let purposeSince = try await store.cursor(Self.purposeRetentionCursor)
    let outcome = try await RetentionSweep(context: context).run(.with {
      $0.now = now.protoTimestamp
      if purposeSince > 0 { $0.purposeRetentionSince = Date(timeIntervalSince1970: TimeInterval(purposeSince)).protoTimestamp }
    })
    try await store.saveCursor(Self.name, UInt64(now.timeIntervalSince1970))
    try await store.saveCursor(Self.purposeRetentionCursor, UInt64(now.timeIntervalSince1970))
    logger.info(
      "scheduled retention sweep done",
      metadata: [
        "retention.due": "\(outcome.subjectsDue)", "retention.completed": "\(outcome.requestsCompleted)",
        "retention.failures": "\(outcome.failures.count)", "retention.purpose_subjects": "\(outcome.purposeRetentionSubjects)",
      ])
  }
}
