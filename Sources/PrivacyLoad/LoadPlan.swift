public import GRPCCore

/// What to load, how hard and for how long.
public struct LoadPlan: Sendable {
  public var host: String
  public var port: Int
  /// The method every call goes to.
  public var method: MethodDescriptor
  /// Call `i` sends request `i`; the load ends early when they run out.
  public var requests: RequestList
  /// Sent with every call (credentials, caller identity).
  public var metadata: Metadata
  /// HTTP/2 connections, each its own client.
  public var connections: Int
  /// Calls in flight on each connection.
  public var streams: Int
  /// Calls made before the measured window still count as acknowledged writes, not in the figures.
  public var warmUp: Duration
  /// The measured window.
  public var duration: Duration
  /// Each call's deadline.
  public var timeout: Duration

  public init(
    host: String, port: Int, method: MethodDescriptor, requests: RequestList, metadata: Metadata = [:], connections: Int = 1,
    streams: Int = 1, warmUp: Duration = .seconds(1), duration: Duration = .seconds(10), timeout: Duration = .seconds(30)
  ) throws(LoadPlanError) {
    guard connections > 0, streams > 0 else { throw .noCalls }
    self.host = host
    self.port = port
    self.method = method
    self.requests = requests
    self.metadata = metadata
    self.connections = connections
    self.streams = streams
    self.warmUp = warmUp
    self.duration = duration
    self.timeout = timeout
  }

  /// `/package.Service/Method`, the form of gRPC paths and of the benchmarks' method names.
  public static func method(path: String) throws(LoadPlanError) -> MethodDescriptor {
    let parts = path.split(separator: "/", omittingEmptySubsequences: false)
    guard parts.count == 3, parts[0].isEmpty, !parts[1].isEmpty, !parts[2].isEmpty else { throw .malformedMethod(path) }
    return MethodDescriptor(fullyQualifiedService: String(parts[1]), method: String(parts[2]))
  }
}

/// A plan that cannot run.
public enum LoadPlanError: Error, Equatable, CustomStringConvertible {
  case noRequests
  case truncatedRequests(request: Int)
  case noCalls
  case malformedMethod(String)

  public var description: String {
    switch self {
    case .noRequests: "the requests file holds no request"
    case .truncatedRequests(let request): "the requests file ends inside request \(request) (numbered from 0)"
    case .noCalls: "connections and streams must be at least 1"
    case .malformedMethod(let path): "\(path) is not a method path of the form /package.Service/Method"
    }
  }
}
