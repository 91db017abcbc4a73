import GRPCCore
import GRPCNIOTransportHTTP2
import NIOPosix
import Synchronization

/// Runs `plan`: `connections` clients over plaintext HTTP/2, `streams` callers on each, every call
/// sending the next request of the list (each request once, in order, across all callers). Calls
/// are made until the window ends or the requests run out; the figures count calls that began and
/// ended inside the window, so when the requests ran out first (`LoadReport.ranOut`) they understate.
public func runLoad(_ plan: LoadPlan) async throws -> LoadReport {
  let clock = ContinuousClock()
  let window = Window(from: clock.now + plan.warmUp, duration: plan.duration)
  let numbers = CallNumbers(count: plan.requests.count)
  // One event-loop thread for every connection: the load is pinned to one core, and more threads
  // there would only take turns.
  let eventLoops = MultiThreadedEventLoopGroup(numberOfThreads: 1)
  defer { eventLoops.shutdownGracefully { _ in } }
  return try await merging(plan.connections, window) {
    let transport = try HTTP2ClientTransport.Posix(
      target: .dns(host: plan.host, port: plan.port), transportSecurity: .plaintext,
      config: .defaults { $0.connection.maxIdleTime = nil }, eventLoopGroup: eventLoops)
    return try await withGRPCClient(transport: transport) { client in
      try await merging(plan.streams, window) { await callRepeatedly(client, plan, numbers, window) }
    }
  }
}

/// Runs `body` `count` times at once and merges what they saw.
private func merging(
  _ count: Int, _ window: Window, _ body: @escaping @Sendable () async throws -> LoadReport
) async throws -> LoadReport {
  try await withThrowingTaskGroup(of: LoadReport.self) { group in
    for _ in 0..<count { group.addTask { try await body() } }
    var merged = LoadReport(seconds: window.seconds)
    for try await report in group { merged.merge(report) }
    return merged
  }
}

/// One caller: a call at a time until the window ends or the requests run out.
private func callRepeatedly(
  _ client: GRPCClient<HTTP2ClientTransport.Posix>, _ plan: LoadPlan, _ numbers: CallNumbers, _ window: Window
) async -> LoadReport {
  let clock = ContinuousClock()
  var options = CallOptions.defaults
  options.timeout = plan.timeout
  var report = LoadReport(seconds: window.seconds)
  while clock.now < window.end {
    guard let index = numbers.next() else {
      report.ranOut()
      break
    }
    report.sent(index)
    let request = ClientRequest(message: plan.requests[index], metadata: plan.metadata)
    let began = clock.now
    let status: String
    do {
      try await client.unary(
        request: request, descriptor: plan.method, serializer: BytesSerializer(), deserializer: DiscardingDeserializer(),
        options: options
      ) { response in _ = try response.message }
      status = "OK"
    } catch let error as RPCError {
      status = statusName(error.code)
    } catch {
      status = "CLIENT_ERROR"
    }
    let ended = clock.now
    report.answered(status, after: ended - began, inWindow: began >= window.start && ended <= window.end)
  }
  return report
}

/// The measured stretch of time.
private struct Window: Sendable {
  let start: ContinuousClock.Instant
  let end: ContinuousClock.Instant
  let seconds: Double

  init(from start: ContinuousClock.Instant, duration: Duration) {
    self.start = start
    end = start + duration
    seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
  }
}

/// Hands out request numbers once each, in order, across every caller.
private final class CallNumbers: Sendable {
  private let issued = Atomic<Int>(0)
  private let count: Int

  init(count: Int) { self.count = count }

  func next() -> Int? {
    let number = issued.wrappingAdd(1, ordering: .relaxed).oldValue
    return number < count ? number : nil
  }
}

/// The status names grpcio and the gRPC specification use, so reports read the same whichever
/// client made them.
private func statusName(_ code: RPCError.Code) -> String {
  let names = [
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
    "UNAUTHENTICATED",
  ]
  return names.indices.contains(code.rawValue) ? names[code.rawValue] : "CODE_\(code.rawValue)"
}

/// Requests go out as they were written: no protobuf work on the load's core.
private struct BytesSerializer: MessageSerializer {
  func serialize<Bytes: GRPCContiguousBytes>(_ message: ArraySlice<UInt8>) throws -> Bytes { Bytes(message) }
}

/// Answers are counted, not read.
private struct DiscardingDeserializer: MessageDeserializer {
  func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> Int { serializedMessageBytes.count }
}
