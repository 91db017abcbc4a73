import Foundation
import GRDB
import GRPCCore
import PrivacyGateway
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Testing

/// A small tmpfs the test can fill up, when this process may mount one (root on Linux).
final class SmallFileSystem: Sendable {
  let path: String

  static var canMount: Bool { getuid() == 0 }

  init(megabytes: Int) throws {
    path = FileManager.default.temporaryDirectory.appendingPathComponent("tmpfs-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    let mount = try runTool("/bin/mount", ["-t", "tmpfs", "-o", "size=\(megabytes)m", "tmpfs", path])
    guard mount.status == 0 else { throw SetupFailure("mount failed: \(mount.errors)") }
  }

  /// Fills every free byte; `free()` gives them back.
  func fill() throws {
    _ = try runTool("/bin/dd", ["if=/dev/zero", "of=\(path)/filler", "bs=64k"])
  }

  func free() throws { try FileManager.default.removeItem(atPath: "\(path)/filler") }

  deinit {
    _ = try? runTool("/bin/umount", ["-l", path])
    try? FileManager.default.removeItem(atPath: path)
  }

  struct SetupFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
  }
}

private func runTool(_ tool: String, _ arguments: [String]) throws -> (status: Int32, errors: String) {
  let result = try runCommand(tool, arguments)
  return (result.status, String(decoding: result.errors, as: UTF8.self))
}

@Suite("Write-ahead audit: no action without its intent on record; the outcome is what the backend did")
struct WriteAheadAuditTests {
  /// With the audit log unwritable (`breakAudit`), a PutRecord, a reveal and an erasure through
  /// the gateway are UNAVAILABLE and the vault, asked directly, shows none of them happened;
  /// once the log is writable (`repairAudit`) they work and the chain verifies.
  static func nothingHappens(
    _ fixture: GatewayFixture, breakAudit: () throws -> Void, repairAudit: () throws -> Void
  ) async throws {
    try await fixture.run { port, backends async throws in
      try await TestData.seed(vaultPort: backends[.vault]!)
      try await asRole("dpo", port: port) { client async throws in
        let vault = VaultClient(wrapping: client)
        _ = try await vault.getRecord(.with { $0.subjectID = TestData.subject })
        try breakAudit()
        let put = await capturedRPCError {
          try await vault.putRecord(.with {
            $0.subjectID = TestData.subject
            $0.values = ["name": "Ada King"]
            $0.source = .with { $0.channel = .api }
          })
        }
        let reveal = await capturedRPCError {
          try await vault.revealField(.with {
            $0.subjectID = TestData.subject
            $0.field = "iban"
            $0.reason = "refund"
          })
        }
        let erase = await capturedRPCError {
          try await vault.erasePersonalData(.with {
            $0.subjectID = TestData.subject
            $0.reason = "art 17 request"
          })
        }
        for error in [put, reveal, erase] {
          #expect(error?.code == .unavailable && error?.errorInfoReason == "AUDIT_UNAVAILABLE", "\(String(describing: error))")
        }
        #expect(reveal.map { !$0.message.contains(TestData.iban) } == true)
        try await withTestClient(port: backends[.vault]!) { direct async throws in
          let vault = VaultClient(wrapping: direct)
          let record = try await vault.getRecord(.with { $0.subjectID = TestData.subject }).record
          #expect(record.field("name")?.value == "Ada Lovelace" && !record.erased && record.version == 1)
          let log = try await vault.listAccessLog(.with { $0.subjectID = TestData.subject }).entries
          #expect(!log.contains { $0.kind == .reveal || $0.kind == .erasure })
        }
        try repairAudit()
        _ = try await vault.putRecord(.with {
          $0.subjectID = TestData.subject
          $0.values = ["name": "Ada King"]
          $0.source = .with { $0.channel = .api }
        })
        let verification = try await AdminClient(wrapping: client).verifyAudit(.init()).verification
        #expect(verification.valid, "\(verification.problem)")
      }
    }
  }

  @Test("a full disk (a small tmpfs holding the gateway's database) stops a PutRecord, a reveal and an erasure before they act",
    .enabled(if: SmallFileSystem.canMount, "mounting a tmpfs needs root"))
  func fullDisk() async throws {
    let disk = try SmallFileSystem(megabytes: 2)
    let fixture = try GatewayFixture(auditDirectory: disk.path)
    try await Self.nothingHappens(fixture, breakAudit: { try disk.fill() }, repairAudit: { try disk.free() })
  }

  @Test("a database that refuses new entries stops a PutRecord, a reveal and an erasure before they act")
  func refusedWrites() async throws {
    let fixture = try GatewayFixture()
    try await Self.nothingHappens(
      fixture,
      breakAudit: { try fixture.executeOnAudit("CREATE TRIGGER fail_audit BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'disk full'); END") },
      repairAudit: { try fixture.executeOnAudit("DROP TRIGGER fail_audit") })
  }

  @Test("a caller whose deadline passes while the vault is busy gets DEADLINE_EXCEEDED; the audit records the write that landed")
  func deadlinePassed() async throws {
    let fixture = try GatewayFixture()
    // The gateway's own backend timeout outlasts the held database by far.
    try await fixture.run(gatewayEnvironment: ["GATEWAY_BACKEND_TIMEOUT_MS": "30000"]) { port, backends async throws in
      try await TestData.seed(vaultPort: backends[.vault]!)
      // Someone holds the vault's database for five seconds (on a thread of its own): the write
      // waits for it, and the caller's deadline (long enough for the gateway to take the call on
      // a loaded machine) passes first.
      let vaultFile = try DatabaseQueue(path: fixture.directory.path("vault.sqlite"))
      let error = try await asRole("dpo", port: port) { client async throws in
        // The connection is up before the clock starts.
        _ = try await AdminClient(wrapping: client).whoAmI(.init())
        let holder = Thread {
          try? vaultFile.inTransaction(.immediate) { _ in
            Thread.sleep(forTimeInterval: 5)
            return .commit
          }
        }
        holder.start()
        try await Task.sleep(for: .milliseconds(100))
        var options = CallOptions.defaults
        options.timeout = .seconds(2)
        return await capturedRPCError {
          try await VaultClient(wrapping: client).putRecord(.with {
            $0.subjectID = TestData.subject
            $0.values = ["segment": "platinum"]
            $0.source = .with { $0.channel = .api }
          }, options: options)
        }
      }
      #expect(error?.code == .deadlineExceeded)
      try await asRole("dpo", port: port) { client async throws in
        let admin = AdminClient(wrapping: client)
        func outcome() async throws -> Privacy_Gateway_V1_AuditEntry? {
          try await admin.listAudit(.with { $0.method = "privacy.vault.v1.VaultService/PutRecord" }).entries.first { $0.phase == .outcome }
        }
        #expect(try await eventually { try await outcome() != nil })
        let entry = try #require(try await outcome())
        #expect(entry.statusCode == 0, "\(entry.statusMessage)")
        let intent = try await admin.listAudit(.with { $0.requestID = entry.requestID }).entries.map(\.phase)
        #expect(intent == [.outcome, .intent])
        let record = try await VaultClient(wrapping: client).getRecord(.with { $0.subjectID = TestData.subject }).record
        #expect(record.field("segment")?.value == "platinum" && record.version == 2)
      }
    }
  }
}
