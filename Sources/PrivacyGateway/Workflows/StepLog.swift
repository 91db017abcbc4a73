import Foundation
import GRPCCore
import PrivacyKit
import PrivacyProtocol

/// The step log of one IN_PROGRESS data-subject request, kept in the subject-rights service.
/// A step is recorded RUNNING before it runs and DONE (with a detail holding no personal data)
/// after; a step already DONE is skipped and its stored detail returned, which is how a resumed
/// run carries on where the last one stopped. A step that fails is recorded FAILED with its error
/// and the failure is thrown (see `StepFailure`).
struct StepLog {
  let context: WorkflowContext
  let requestID: String
  private(set) var steps: [Privacy_Rights_V1_Step]

  init(context: WorkflowContext, request: Privacy_Rights_V1_DataSubjectRequest) {
    self.context = context
    self.requestID = request.requestID
    self.steps = request.steps
  }

  /// True when some step was already DONE before this run.
  var hasFinishedSteps: Bool { steps.contains { $0.status == .done || $0.status == .skipped } }

  func detail(of name: String) -> String? {
    steps.first { $0.name == name && ($0.status == .done || $0.status == .skipped) }?.detail
  }

  /// Runs `body` as the step `name` unless it is already DONE; returns the step's detail.
  @discardableResult
  mutating func run(_ name: String, _ body: () async throws -> String) async throws -> String {
    if let detail = detail(of: name) { return detail }
    _ = try await record(name, .running)
    let detail: String
    do {
      detail = try await body()
    } catch {
      let underlying = Self.rpcError(error)
      // The failure is recorded when the rights service can be reached; the caller gets the
      // step's error either way.
      let failed = try? await record(name, .failed, error: "\(underlying.code.canonicalName): \(underlying.message)")
      throw StepFailure.error(requestID: requestID, step: name, attempts: failed?.attempts ?? 1, underlying: underlying)
    }
    _ = try await record(name, .done, detail: detail)
    if context.settings.crashAfterStep == name { CrashHook.exitNow() }
    return detail
  }

  private mutating func record(
    _ name: String, _ status: Privacy_Rights_V1_StepStatus, detail: String = "", error: String = ""
  ) async throws -> Privacy_Rights_V1_Step {
    let step = try await context.send(RightsMethod.RecordStep.self, .with {
      $0.requestID = requestID
      $0.step = name
      $0.status = status
      $0.detail = String(detail.prefix(8000))
      $0.error = String(error.prefix(8000))
    }).step
    if let index = steps.firstIndex(where: { $0.name == name }) { steps[index] = step } else { steps.append(step) }
    return step
  }

  static func rpcError(_ error: any Error) -> RPCError {
    if let error = error as? RPCError { return error }
    if let convertible = error as? any RPCErrorConvertible { return RPCError(convertible) }
    return RPCError(code: .internalError, message: "\(type(of: error))")
  }
}

/// Test-only fault injection: ends the process at once, as a crash would (no graceful drain, no
/// audit entry for the call in flight). Enabled only by `GATEWAY_TEST_CRASH_AFTER_STEP`.
enum CrashHook {
  static func exitNow() -> Never {
    _exit(3)
  }
}
