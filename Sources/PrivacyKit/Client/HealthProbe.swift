import GRPCCore
import GRPCNIOTransportHTTP2
import PrivacyProtocol

/// Asks a server's `grpc.health.v1.Health` how it is, as load balancers do.
public enum HealthProbe {
  /// What a probe saw.
  public enum Outcome: Sendable, Equatable, CustomStringConvertible {
    case serving
    case notServing
    case unreachable(String)

    public var description: String {
      switch self {
      case .serving: "SERVING"
      case .notServing: "NOT_SERVING"
      case .unreachable(let why): "UNREACHABLE (\(why))"
      }
    }
  }

  /// Checks the server as a whole (empty service name), over TLS when `tls` is set, giving up
  /// after `timeout`.
  public static func check(_ address: ServiceAddress, tls: ClientTLS? = nil, timeout: Duration = .seconds(2)) async -> Outcome {
    do {
      let transport = try HTTP2ClientTransport.Posix(
        target: address.target, transportSecurity: try tls?.transportSecurity() ?? .plaintext,
        config: .defaults { config in tls?.configure(&config) })
      return try await withGRPCClient(transport: transport) { client in
        var options = CallOptions.defaults
        options.timeout = timeout
        let response = try await Grpc_Health_V1_Health.Client(wrapping: client).check(.init(), options: options)
        return response.status == .serving ? .serving : .notServing
      }
    } catch let error as RPCError {
      return .unreachable(error.code.description)
    } catch {
      return .unreachable("\(type(of: error))")
    }
  }
}
