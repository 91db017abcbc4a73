public import GRPCCore
public import GRPCNIOTransportHTTP2
import GRPCProtobuf
public import Logging
public import SwiftProtobuf

/// One connection to the gateway under one API key, for the suite's own clients of it (the
/// preference center, the mail relay). Each call carries the key and waits for the connection
/// within its timeout, so a call right after a start, or after a gateway restart, does not fail
/// only because the connection is still being made.
public struct GatewayClient: Sendable {
  public let client: GRPCClient<HTTP2ClientTransport.Posix>
  private let apiKey: String
  private let callTimeout: Duration

  public init(address: ServiceAddress, tls: ClientTLS?, apiKey: String, callTimeout: Duration, maxBackoff: Duration = .seconds(2)) throws {
    let config = HTTP2ClientTransport.Posix.Config.defaults { config in
      config.backoff = .init(initial: .milliseconds(100), max: maxBackoff, multiplier: 1.6, jitter: 0.2)
      tls?.configure(&config)
    }
    client = GRPCClient(
      transport: try HTTP2ClientTransport.Posix(
        target: address.target, transportSecurity: try tls?.transportSecurity() ?? .plaintext, config: config))
    self.apiKey = apiKey
    self.callTimeout = callTimeout
  }

  /// A unary call with the key and `metadata` besides.
  public func call<Input: SwiftProtobuf.Message & Sendable, Output: SwiftProtobuf.Message & Sendable>(
    _ method: MethodDescriptor, _ message: Input, metadata: Metadata = [:]
  ) async throws -> Output {
    var metadata = metadata
    metadata.addString("Bearer \(apiKey)", forKey: "authorization")
    var options = CallOptions.defaults
    options.timeout = callTimeout
    return try await client.unary(
      request: ClientRequest(message: message, metadata: metadata), descriptor: method,
      serializer: ProtobufSerializer<Input>(), deserializer: ProtobufDeserializer<Output>(), options: options
    ) { try $0.message }
  }
}

extension EnvironmentReader {
  /// `PRIVACY_GATEWAY_ADDR`, default 127.0.0.1:50050.
  public func gatewayAddress() throws(ConfigurationError) -> ServiceAddress {
    let text = string("PRIVACY_GATEWAY_ADDR") ?? "127.0.0.1:50050"
    guard let address = ServiceAddress(text) else { throw .malformed("PRIVACY_GATEWAY_ADDR", "must be host:port, got \"\(text)\"") }
    return address
  }

  /// TLS to the gateway, trusting `PRIVACY_CA_FILE` (else the system's store); nil (plaintext) only
  /// with `ALLOW_INSECURE_DEV=1` and no CA file.
  public func gatewayTLS() throws(ConfigurationError) -> ClientTLS? {
    let caFile = string("PRIVACY_CA_FILE")
    return try flag("ALLOW_INSECURE_DEV") && caFile == nil ? nil : ClientTLS(caFile: caFile)
  }

  /// `LOG_LEVEL`, default info.
  public func logLevel() throws(ConfigurationError) -> Logger.Level {
    guard let text = string("LOG_LEVEL") else { return .info }
    guard let level = Logger.Level(rawValue: text.lowercased()) else {
      let names = Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
      throw .malformed("LOG_LEVEL", "must be one of \(names), got \"\(text)\"")
    }
    return level
  }
}
