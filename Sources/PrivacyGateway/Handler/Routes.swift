import GRPCCore
import GRPCProtobuf
import PrivacyKit
import PrivacyProtocol
import SwiftProtobuf

/// A generated method namespace (`Privacy_Vault_V1_VaultService.Method.GetRecord`): its
/// descriptor and message types. The route table names methods through it, so a route's types
/// always match its descriptor.
protocol GeneratedMethod {
  associatedtype Input: SwiftProtobuf.Message & Sendable
  associatedtype Output: SwiftProtobuf.Message & Sendable
  static var descriptor: MethodDescriptor { get }
}

/// One method the gateway serves.
protocol GatewayRoute: Sendable {
  var descriptor: MethodDescriptor { get }
  func register<Transport: ServerTransport>(with router: inout RPCRouter<Transport>, gateway: Gateway)
  /// The route as the nghttp2 transport runs it without GRPCCore's server stack; nil for a
  /// route that streams.
  func servedInTask(on gateway: Gateway) -> SynchronousMethod?
}

/// A unary backend method: authenticated, authorized, forwarded (with a deadline and the
/// gateway's metadata) and audited; `handler` may filter the answer.
struct UnaryRoute<Input: SwiftProtobuf.Message & Sendable, Output: SwiftProtobuf.Message & Sendable>: GatewayRoute {
  typealias Handler = @Sendable (Input, Gateway.Call, Forwarder<Input, Output>) async throws -> Gateway.Answer<Output>

  let descriptor: MethodDescriptor
  let backend: BackendKind
  let budget: Gateway.TimeBudget
  let handler: Handler

  /// `budget`: `.workflow` for a handler whose consequences make many backend calls.
  init<Method: GeneratedMethod>(
    _ method: Method.Type, _ backend: BackendKind, budget: Gateway.TimeBudget = .backendCall,
    handler: @escaping Handler = { message, call, forward in Gateway.Answer(try await forward(message, call)) }
  ) where Method.Input == Input, Method.Output == Output {
    self.descriptor = Method.descriptor
    self.backend = backend
    self.budget = budget
    self.handler = handler
  }

  func register<Transport: ServerTransport>(with router: inout RPCRouter<Transport>, gateway: Gateway) {
    let serve = serving(on: gateway)
    router.registerHandler(
      forMethod: descriptor, deserializer: ProtobufDeserializer<Input>(), serializer: ProtobufSerializer<Output>()
    ) { request, context in
      StreamingServerResponse(single: try await serve(try await ServerRequest(stream: request)))
    }
  }

  /// The request decoded on the transport's event loop, then the route's whole way in a task of
  /// its own: the answers, errors and audit entries of `register`'s handler, without GRPCCore's
  /// streams and interceptors per call (which cost a forwarded call more than its backend does).
  /// The transport ends the call at the caller's deadline and drops an answer to a call the
  /// caller reset, while the task runs to its end: a read is then audited as answered, a write
  /// records what the backends did, as a write-ahead call does in any case.
  func servedInTask(on gateway: Gateway) -> SynchronousMethod? {
    let serve = serving(on: gateway)
    return SynchronousMethod(descriptor) { (message: Input, metadata, reply: SynchronousReply<Output>) in
      Self.serveInTask(serve, message, metadata: metadata, reply: reply)
    }
  }

  /// Runs `serve` in a task and replies with its answer or its error.
  static func serveInTask(
    _ serve: @escaping @Sendable (ServerRequest<Input>) async throws -> ServerResponse<Output>, _ message: Input, metadata: Metadata,
    reply: SynchronousReply<Output>
  ) {
    Task {
      do {
        let response = try await serve(ServerRequest(metadata: metadata, message: message))
        reply.succeed(try response.message, metadata: response.metadata)
      } catch {
        reply.fail(error)
      }
    }
  }

  /// The route's whole way: authentication, authorization, the handler and the audit log.
  func serving(on gateway: Gateway) -> @Sendable (ServerRequest<Input>) async throws -> ServerResponse<Output> {
    let descriptor = self.descriptor
    let handler = self.handler
    let budget = self.budget
    let forward = Forwarder<Input, Output>(gateway: gateway, backend: gateway.backends[backend], method: descriptor)
    return { request in
      try await gateway.unary(request, method: descriptor, budget: budget) { message, call in
        try await handler(message, call, forward)
      }
    }
  }
}

/// The one forward function: the same message to the backend's method, under the caller's
/// deadline and the gateway's metadata.
struct Forwarder<Input: SwiftProtobuf.Message & Sendable, Output: SwiftProtobuf.Message & Sendable>: Sendable {
  /// The gateway, for handlers whose call has consequences in another backend.
  let gateway: Gateway
  let backend: Backend
  let method: MethodDescriptor

  func callAsFunction(_ message: Input, _ call: Gateway.Call) async throws -> Output {
    try await backend.unary(message, method: method, metadata: call.backendMetadata, options: try call.backendOptions())
  }
}

/// A server-streaming backend method (`WatchConsentEvents`), relayed message by message until
/// the backend ends it, the caller leaves or the gateway drains.
struct StreamRoute<Input: SwiftProtobuf.Message & Sendable, Output: SwiftProtobuf.Message & Sendable>: GatewayRoute {
  let descriptor: MethodDescriptor
  let backend: BackendKind

  init<Method: GeneratedMethod>(_ method: Method.Type, _ backend: BackendKind) where Method.Input == Input, Method.Output == Output {
    self.descriptor = Method.descriptor
    self.backend = backend
  }

  func servedInTask(on gateway: Gateway) -> SynchronousMethod? { nil }

  func register<Transport: ServerTransport>(with router: inout RPCRouter<Transport>, gateway: Gateway) {
    let descriptor = self.descriptor
    let backend = gateway.backends[self.backend]
    router.registerHandler(
      forMethod: descriptor, deserializer: ProtobufDeserializer<Input>(), serializer: ProtobufSerializer<Output>()
    ) { request, context in
      let single = try await ServerRequest(stream: request)
      return await gateway.serverStream(single, context: context, method: descriptor) { (message: Input, call, opened, writer: RPCWriter<Output>) in
        try await backend.serverStreaming(message, method: descriptor, metadata: call.backendMetadata, options: try call.backendOptions()) {
          (messages: RPCAsyncSequence<Output, any Error>) in
          try await opened()
          let evidence = EvidenceFilter(fields: call.role.fields)
          for try await message in messages {
            try await writer.write(evidence.apply(to: message))
          }
        }
      }
    }
  }
}

/// The gateway's services as one registrable unit: the four backend services from the route
/// table, and AdminService.
struct RouteTable: RegistrableRPCService {
  let gateway: Gateway
  let admin: AdminHandler

  func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
    for route in Self.backendRoutes {
      route.register(with: &router, gateway: gateway)
    }
    admin.registerMethods(with: &router)
  }

  /// The methods the nghttp2 transport runs without GRPCCore's server stack: the checks the
  /// gateway answers on its event loop, and every other unary backend route in a task. The
  /// admin methods and the streams stay with GRPCCore.
  static func synchronousMethods(of gateway: Gateway) -> [SynchronousMethod] {
    let checks = EventLoopChecks.methods(of: gateway)
    let answered = Set(checks.map(\.descriptor))
    return checks + backendRoutes.filter { !answered.contains($0.descriptor) }.compactMap { $0.servedInTask(on: gateway) }
  }

  /// The full names of every method the gateway serves (what a policy may grant).
  static var servedMethods: Set<String> {
    Set(backendRoutes.map(\.descriptor.fullyQualifiedMethod) + Privacy_Gateway_V1_AdminService.Method.descriptors.map(\.fullyQualifiedMethod))
  }

  /// The fully qualified services the gateway serves (reported by health).
  static var servedServices: [String] {
    BackendKind.allCases.map(\.serviceName) + [Privacy_Gateway_V1_AdminService.descriptor.fullyQualifiedService]
  }
}
