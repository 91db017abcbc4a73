import Foundation
public import GRPCCore
public import PrivacyProtocol
import SwiftProtobuf
import Synchronization

/// gRPC server reflection, so that `grpcurl list` and `describe` work without proto files. It
/// answers from `ProtocolDescriptors` and describes only what the server hosts (`DescriptorIndex`).
/// Like health it asks no credential: it tells the published API, never data.
///
/// Served twice: `grpc.reflection.v1` and, for older clients, `grpc.reflection.v1alpha`, whose
/// messages are the same on the wire and are answered by re-reading them as v1.
public final class ReflectionService: Sendable {
  public static let serviceNames = ["grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"]

  /// The one method of each: a bidirectional stream, so it takes many request messages.
  public static let methods: Set<MethodDescriptor> = [
    Grpc_Reflection_V1_ServerReflection.Method.ServerReflectionInfo.descriptor,
    Grpc_Reflection_V1alpha_ServerReflection.Method.ServerReflectionInfo.descriptor,
  ]

  private let hosted: [String]
  /// Built at the first reflection call, so that a server nobody asks pays nothing.
  private let built = Mutex<DescriptorIndex?>(nil)

  /// - Parameter services: fully qualified names of every service the server hosts, including
  ///   health and reflection.
  public init(services: [String]) {
    self.hosted = services
  }

  private var index: DescriptorIndex {
    built.withLock { built in
      if let index = built { return index }
      let index = DescriptorIndex(services: hosted)
      built = index
      return index
    }
  }

  /// The two reflection services to register.
  public var services: [any RegistrableRPCService] {
    [ReflectionV1(reflection: self), ReflectionV1Alpha(reflection: self)]
  }

  /// One answer per request; a request the server cannot answer gets an error response on the
  /// stream, as the protocol asks, and the stream goes on.
  func answer(_ request: Grpc_Reflection_V1_ServerReflectionRequest) -> Grpc_Reflection_V1_ServerReflectionResponse {
    let index = self.index
    var response = Grpc_Reflection_V1_ServerReflectionResponse()
    response.validHost = request.host
    response.originalRequest = request
    switch request.messageRequest {
    case .listServices:
      response.listServicesResponse = .with { list in
        list.service = index.services.map { name in .with { $0.name = name } }
      }
    case .fileByFilename(let name):
      response.messageResponse = files(index.fileWithImports(named: name), missing: "file \(name.clipped) not found")
    case .fileContainingSymbol(let symbol):
      response.messageResponse = files(index.fileWithImports(declaring: symbol), missing: "symbol \(symbol.clipped) not found")
    case .fileContainingExtension(let extensionRequest):
      // None of the served files declares an extension.
      response.messageResponse = error(
        .notFound, "extension \(extensionRequest.extensionNumber) of \(extensionRequest.containingType.clipped) not found")
    case .allExtensionNumbersOfType(let type):
      if index.isMessage(type) {
        response.allExtensionNumbersResponse = .with { $0.baseTypeName = type.hasPrefix(".") ? String(type.dropFirst()) : type }
      } else {
        response.messageResponse = error(.notFound, "type \(type.clipped) not found")
      }
    case nil:
      response.messageResponse = error(.invalidArgument, "the request names no question")
    }
    return response
  }

  private func files(_ files: [Data]?, missing: String) -> Grpc_Reflection_V1_ServerReflectionResponse.OneOf_MessageResponse {
    guard let files else { return error(.notFound, missing) }
    return .fileDescriptorResponse(.with { $0.fileDescriptorProto = files })
  }

  private func error(_ code: RPCError.Code, _ message: String) -> Grpc_Reflection_V1_ServerReflectionResponse.OneOf_MessageResponse {
    .errorResponse(.with {
      $0.errorCode = Int32(code.rawValue)
      $0.errorMessage = message
    })
  }
}

private struct ReflectionV1: Grpc_Reflection_V1_ServerReflection.SimpleServiceProtocol {
  let reflection: ReflectionService

  func serverReflectionInfo(
    request: RPCAsyncSequence<Grpc_Reflection_V1_ServerReflectionRequest, any Error>,
    response: RPCWriter<Grpc_Reflection_V1_ServerReflectionResponse>,
    context: ServerContext
  ) async throws {
    for try await question in request {
      try await response.write(reflection.answer(question))
    }
  }
}

private struct ReflectionV1Alpha: Grpc_Reflection_V1alpha_ServerReflection.SimpleServiceProtocol {
  let reflection: ReflectionService

  func serverReflectionInfo(
    request: RPCAsyncSequence<Grpc_Reflection_V1alpha_ServerReflectionRequest, any Error>,
    response: RPCWriter<Grpc_Reflection_V1alpha_ServerReflectionResponse>,
    context: ServerContext
  ) async throws {
    for try await question in request {
      let answer = reflection.answer(try Grpc_Reflection_V1_ServerReflectionRequest(serializedBytes: question.serializedBytes() as [UInt8]))
      try await response.write(Grpc_Reflection_V1alpha_ServerReflectionResponse(serializedBytes: answer.serializedBytes() as [UInt8]))
    }
  }
}
