public import GRPCCore
public import GRPCNIOTransportHTTP2
import GRPCProtobuf
public import PrivacyKit
import PrivacyProtocol
import SwiftProtobuf

/// The four backend services the gateway fronts.
public enum BackendKind: String, Sendable, CaseIterable {
  case consent
  case vault
  case rights
  case blocklist

  /// The fully qualified gRPC service the backend serves (and the gateway re-serves).
  public var serviceName: String {
    switch self {
    case .consent: Privacy_Consent_V1_ConsentService.descriptor.fullyQualifiedService
    case .vault: Privacy_Vault_V1_VaultService.descriptor.fullyQualifiedService
    case .rights: Privacy_Rights_V1_SubjectRightsService.descriptor.fullyQualifiedService
    case .blocklist: Privacy_Blocklist_V1_BlocklistService.descriptor.fullyQualifiedService
    }
  }

  /// The environment variable holding its address.
  public var addressVariable: String {
    switch self {
    case .consent: "CONSENT_SERVICE_ADDR"
    case .vault: "VAULT_SERVICE_ADDR"
    case .rights: "RIGHTS_SERVICE_ADDR"
    case .blocklist: "BLOCKLIST_SERVICE_ADDR"
    }
  }

  /// The environment variable naming the name its certificate carries, when its replicas are
  /// given as IPs (`CONSENT_SERVICE_TLS_NAME`...); it overrides `BACKEND_TLS_SERVER_NAME`.
  public var serverNameVariable: String {
    addressVariable.replacingOccurrences(of: "_ADDR", with: "_TLS_NAME")
  }

  public var serviceKind: ServiceKind {
    switch self {
    case .consent: .consent
    case .vault: .vault
    case .rights: .rights
    case .blocklist: .blocklist
    }
  }

  /// The backend serving a gRPC service, or nil.
  public init?(service: String) {
    guard let kind = Self.allCases.first(where: { $0.serviceName == service }) else { return nil }
    self = kind
  }
}

/// One backend reached through one long-lived client (a pool of HTTP/2 connections that
/// reconnects on its own), shared by every call and workflow of the gateway. Calls are spread
/// round-robin over the backend's replicas; a read that fails with UNAVAILABLE (a replica gone,
/// or one that lost its database) is tried once more, on the next replica. Writes are never
/// repeated: the first replica may have done the work before the failure.
public struct Backend: Sendable {
  public let kind: BackendKind
  public let address: BackendTarget
  public let client: GRPCClient<HTTP2ClientTransport.Posix>
  /// The consent service's: the furthest ledger event its answers named.
  let ledgerPosition: LedgerPosition?

  init(kind: BackendKind, address: BackendTarget, tls: ClientTLS?, flushCoalescing: Bool) throws {
    self.kind = kind
    self.address = address
    self.ledgerPosition = kind == .consent ? LedgerPosition() : nil
    let config = HTTP2ClientTransport.Posix.Config.defaults { config in
      // A restarted backend is found again within a couple of seconds, not minutes.
      config.backoff = .init(initial: .milliseconds(100), max: .seconds(2), multiplier: 1.6, jitter: 0.2)
      if !flushCoalescing { config.connection.flushCoalescing = nil }
      tls?.configure(&config)
    }
    self.client = GRPCClient(
      transport: try HTTP2ClientTransport.Posix(
        target: address.target, transportSecurity: try tls?.transportSecurity() ?? .plaintext, config: config,
        serviceConfig: Self.serviceConfig))
  }

  /// Round-robin over the replicas that are reachable.
  static let serviceConfig = ServiceConfig(loadBalancingConfig: [.roundRobin])

  /// Whether a call that failed with UNAVAILABLE is tried once more (on the next replica): reads
  /// only. Done here rather than by a retry policy in the service config, under which a call to
  /// a replica that accepts connections but never answers outlived its deadline.
  public static func retriesOnUnavailable(_ method: MethodDescriptor) -> Bool {
    Gateway.readMethods.contains(method.method)
  }

  /// Calls a unary method of this backend. The backend's own errors come back as they are,
  /// except that a refusal of the gateway's internal credential becomes INTERNAL (it is the
  /// gateway's misconfiguration, not the caller's credentials).
  func unary<Input: SwiftProtobuf.Message & Sendable, Output: SwiftProtobuf.Message & Sendable>(
    _ message: Input, method: MethodDescriptor, metadata: Metadata, options: CallOptions
  ) async throws -> Output {
    let position = ledgerPosition
    let attempt = {
      try await self.client.unary(
        request: ClientRequest(message: message, metadata: metadata), descriptor: method,
        serializer: ProtobufSerializer<Input>(), deserializer: ProtobufDeserializer<Output>(), options: options
      ) { response in
        let message = try response.message
        position?.observe(response.trailingMetadata)
        return message
      }
    }
    do {
      do {
        return try await attempt()
      } catch let error as RPCError where error.code == .unavailable && Self.retriesOnUnavailable(method) {
        return try await attempt()
      }
    } catch let error as RPCError {
      throw translate(error)
    }
  }

  /// Calls a server-streaming method; `body` gets the stream once the backend accepted the call.
  func serverStreaming<Input: SwiftProtobuf.Message & Sendable, Output: SwiftProtobuf.Message & Sendable>(
    _ message: Input, method: MethodDescriptor, metadata: Metadata, options: CallOptions,
    body: @escaping @Sendable (RPCAsyncSequence<Output, any Error>) async throws -> Void
  ) async throws {
    do {
      try await client.serverStreaming(
        request: ClientRequest(message: message, metadata: metadata), descriptor: method,
        serializer: ProtobufSerializer<Input>(), deserializer: ProtobufDeserializer<Output>(), options: options
      ) { response in
        if case .failure(let error) = response.accepted { throw error }
        try await body(response.messages)
      }
    } catch let error as RPCError {
      throw translate(error)
    }
  }

  func translate(_ error: RPCError) -> RPCError {
    guard error.code != .unauthenticated else {
      return RPCError(code: .internalError, message: "the \(kind.rawValue) service refused the gateway's internal credential")
    }
    // Only the error's details (ErrorInfo) travel on. The rest of the backend's trailing
    // metadata describes its own HTTP/2 response (content-type and the like); repeated in the
    // gateway's answer it would make that answer malformed and cost the caller its connection.
    var forwarded = RPCError(code: error.code, message: error.message)
    for details in error.metadata[binaryValues: "grpc-status-details-bin"] {
      forwarded.metadata.addBinary(details, forKey: "grpc-status-details-bin")
    }
    return forwarded
  }

  /// The backend's `grpc.health.v1` status.
  public func health(timeout: Duration) async -> (HealthProbe.Outcome, Duration?) {
    var options = CallOptions.defaults
    options.timeout = timeout
    let start = ContinuousClock.now
    do {
      let response = try await Grpc_Health_V1_Health.Client(wrapping: client).check(.init(), options: options)
      return (response.status == .serving ? .serving : .notServing, ContinuousClock.now - start)
    } catch let error as RPCError {
      return (.unreachable("\(error.code.canonicalName): \(error.message)"), nil)
    } catch {
      return (.unreachable("\(type(of: error))"), nil)
    }
  }
}

/// The four backends.
public struct Backends: Sendable {
  public let consent: Backend
  public let vault: Backend
  public let rights: Backend
  public let blocklist: Backend

  /// Clients for the addresses (`CONSENT_SERVICE_ADDR`... or the defaults), over `tls` when set,
  /// each verifying the name `serverNames` gives for its backend, if any. Nothing connects until
  /// the clients run (with the server) and a call is made.
  public init(
    addresses: [BackendKind: BackendTarget], tls: ClientTLS?, serverNames: [BackendKind: String] = [:], flushCoalescing: Bool
  ) throws {
    func make(_ kind: BackendKind) throws -> Backend {
      var backendTLS = tls
      if let name = serverNames[kind] { backendTLS?.serverName = name }
      return try Backend(
        kind: kind, address: addresses[kind] ?? BackendTarget(ServiceAddress(host: "127.0.0.1", port: kind.serviceKind.defaultPort)),
        tls: backendTLS, flushCoalescing: flushCoalescing)
    }
    consent = try make(.consent)
    vault = try make(.vault)
    rights = try make(.rights)
    blocklist = try make(.blocklist)
  }

  public subscript(kind: BackendKind) -> Backend {
    switch kind {
    case .consent: consent
    case .vault: vault
    case .rights: rights
    case .blocklist: blocklist
    }
  }

  public var all: [Backend] { BackendKind.allCases.map { self[$0] } }

  /// The clients' connection loops, run as the server's companions.
  public var companions: [any ServerCompanion] { all.map(\.client) }
}
