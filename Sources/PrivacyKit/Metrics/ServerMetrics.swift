public import Prometheus
import Synchronization

/// Per-method call counts and latencies in Prometheus form:
/// `grpc_server_handled_total{grpc_method,grpc_code}` and
/// `grpc_server_handling_seconds{grpc_method}` (a histogram).
public final class ServerMetrics: Sendable {
  public let registry: PrometheusCollectorRegistry
  private let counters = Mutex<[String: Counter]>([:])
  private let histograms = Mutex<[String: DurationHistogram]>([:])

  private static let buckets: [Duration] = [
    .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5),
    .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
    .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5),
  ]

  private static var handled: MetricNameDescriptor { MetricNameDescriptor(
    namespace: "grpc", subsystem: "server", metricName: "handled", unitName: "total", helpText: "Calls finished, by method and status code.") }
  private static var handling: MetricNameDescriptor { MetricNameDescriptor(
    namespace: "grpc", subsystem: "server", metricName: "handling", unitName: "seconds", helpText: "Time to handle a call, by method.") }

  public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
    self.registry = registry
  }

  func record(method: String, code: String, duration: Duration) {
    let counter = counters.withLock { counters in
      let key = method + "|" + code
      if let counter = counters[key] { return counter }
      let counter = registry.makeCounter(descriptor: Self.handled, labels: [("grpc_method", method), ("grpc_code", code)])
      counters[key] = counter
      return counter
    }
    counter.increment()
    let histogram = histograms.withLock { histograms in
      if let histogram = histograms[method] { return histogram }
      let histogram = registry.makeDurationHistogram(descriptor: Self.handling, labels: [("grpc_method", method)], buckets: Self.buckets)
      histograms[method] = histogram
      return histogram
    }
    histogram.record(duration)
  }
}
