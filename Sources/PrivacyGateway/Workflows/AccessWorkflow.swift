import Crypto
import Foundation
import GRPCCore
import PrivacyKit
import PrivacyProtocol

/// ACCESS (art 15) and PORTABILITY (art 20): a zip of JSON and CSV files holding everything the
/// suite knows about the subject, stored as the request's artifact by CompleteRequest.
///
/// The bundle holds personal data, so it never goes into the step log: it exists only in memory
/// until CompleteRequest stores it. A run resumed after `bundle_built` was recorded therefore
/// collects and builds it again from the same sources before completing; the step keeps its
/// first record (files, size, hash).
struct AccessWorkflow {
  let context: WorkflowContext
  let request: Privacy_Rights_V1_DataSubjectRequest

  static let bundleStep = "bundle_built"
  /// The subject-rights service's limit on an artifact (3 MiB).
  static let artifactLimit = 3_145_728

  func run(_ log: inout StepLog) async throws -> WorkflowOutcome {
    let contents = try await ExportBundle.collect(for: request, context: context)
    let files = contents.files()
    let zip = try ZipArchive.build(files, modifiedAt: contents.generatedAt)
    try await log.run(Self.bundleStep) {
      // Checked here: the rights service's RESOURCE_EXHAUSTED would be retried as if transient.
      guard zip.count <= Self.artifactLimit else {
        throw RPCError(code: .resourceExhausted, message: "the bundle is \(zip.count) bytes, over the artifact limit of \(Self.artifactLimit)")
      }
      return StepDetail.json([
        "files": files.map(\.name), "fields_exported": contents.record.fields.count, "size_bytes": zip.count,
        "sha256": SHA256.hash(data: zip).map { String(format: "%02x", $0) }.joined(),
      ])
    }
    var outcome = WorkflowOutcome()
    outcome.artifact = .with {
      $0.content = zip
      $0.mediaType = "application/zip"
      $0.fileName = "\(request.right == .portability ? "portability" : "access")-\(request.requestID).zip"
    }
    outcome.fieldsRevealed = contents.record.fields.filter { !$0.value.isEmpty }.map(\.name).sorted()
    return outcome
  }
}
