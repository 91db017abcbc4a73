import Foundation
public import Histogram

/// What a load saw: statuses and latencies of the calls in the measured window, and what every
/// call acknowledged. Each caller keeps its own and the run merges them at the end.
public struct LoadReport: Sendable {
  /// The measured window, in seconds.
  public let seconds: Double
  /// Calls that began and ended inside the window, by gRPC status name (`OK`, `UNAVAILABLE`, ...).
  public private(set) var statuses: [String: Int] = [:]
  /// Latencies of the OK calls inside the window, in microseconds.
  public private(set) var latencies = Histogram<UInt64>(numberOfSignificantValueDigits: .three)
  /// OK answers at any time, warm-up included: the writes a benchmark must find afterwards.
  public private(set) var acknowledged = 0
  /// The largest request number sent, -1 when none was.
  public private(set) var highestIndex = -1
  /// Whether the requests ran out before the window ended: the figures then understate, and a
  /// benchmark must not print them.
  public private(set) var ranOutOfRequests = false

  init(seconds: Double) { self.seconds = seconds }

  /// OK calls inside the window.
  public var ok: Int { statuses["OK", default: 0] }

  public var callsPerSecond: Double { seconds > 0 ? Double(ok) / seconds : 0 }

  /// The latency below which `percentile` per cent of the OK calls in the window ended.
  public func milliseconds(atPercentile percentile: Double) -> Double {
    latencies.totalCount == 0 ? .nan : Double(latencies.valueAtPercentile(percentile)) / 1000
  }

  mutating func sent(_ index: Int) { highestIndex = max(highestIndex, index) }

  mutating func ranOut() { ranOutOfRequests = true }

  mutating func answered(_ status: String, after latency: Duration, inWindow: Bool) {
    if status == "OK" { acknowledged += 1 }
    guard inWindow else { return }
    statuses[status, default: 0] += 1
    if status == "OK" {
      let (seconds, attoseconds) = latency.components
      _ = latencies.record(UInt64(max(0, seconds)) * 1_000_000 + UInt64(max(0, attoseconds)) / 1_000_000_000_000)
    }
  }

  mutating func merge(_ other: LoadReport) {
    statuses.merge(other.statuses, uniquingKeysWith: +)
    latencies.add(other.latencies)
    acknowledged += other.acknowledged
    highestIndex = max(highestIndex, other.highestIndex)
    ranOutOfRequests = ranOutOfRequests || other.ranOutOfRequests
  }

  /// One JSON object, the form the benchmark scripts read.
  public func json() throws -> String {
    let summary = Summary(
      seconds: seconds, statuses: statuses, acknowledged: acknowledged, highestIndex: highestIndex, ranOutOfRequests: ranOutOfRequests,
      callsPerSecond: callsPerSecond,
      latencyMilliseconds: latencies.totalCount == 0
        ? [:] : Dictionary(uniqueKeysWithValues: [50.0, 90, 99, 99.9, 100].map { (Self.name($0), milliseconds(atPercentile: $0)) }))
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    return String(decoding: try encoder.encode(summary), as: UTF8.self)
  }

  private static func name(_ percentile: Double) -> String {
    percentile == 100 ? "max" : "p" + (percentile.rounded() == percentile ? String(Int(percentile)) : String(percentile))
  }

  private struct Summary: Encodable {
    let seconds: Double
    let statuses: [String: Int]
    let acknowledged: Int
    let highestIndex: Int
    let ranOutOfRequests: Bool
    let callsPerSecond: Double
    let latencyMilliseconds: [String: Double]

    enum CodingKeys: String, CodingKey {
      case seconds, statuses, acknowledged
      case highestIndex = "highest_index"
      case ranOutOfRequests = "ran_out_of_requests"
      case callsPerSecond = "calls_per_second"
      case latencyMilliseconds = "latency_ms"
    }
  }
}
