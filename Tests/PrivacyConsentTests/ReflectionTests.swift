import Foundation
import GRPCCore
import PrivacyProtocol
import PrivacyTesting
import SwiftProtobuf
import Testing

/// gRPC server reflection on a real backend: what it lists, what it describes, what it refuses.
/// (The gateway's, through a stock client, is in the integration tests.)
@Suite("Server reflection")
struct ReflectionTests {
  typealias Request = Grpc_Reflection_V1_ServerReflectionRequest

  /// Asks every question on one v1 stream and returns the answers in order, with no internal token.
  private func ask(_ questions: [Request]) async throws -> [Grpc_Reflection_V1_ServerReflectionResponse] {
    let fixture = try ConsentFixture()
    return try await withRunningServer(try await fixture.makeServer()) { port async throws in
      try await withTestClient(port: port, token: nil) { client async throws in
        try await Grpc_Reflection_V1_ServerReflection.Client(wrapping: client).serverReflectionInfo(
          requestProducer: { writer in try await writer.write(contentsOf: questions) },
          onResponse: { response in try await response.messages.reduce(into: []) { $0.append($1) } })
      }
    }
  }

  private func fileNames(_ answer: Grpc_Reflection_V1_ServerReflectionResponse) throws -> [String] {
    try answer.fileDescriptorResponse.fileDescriptorProto.map { try Google_Protobuf_FileDescriptorProto(serializedBytes: $0).name }
  }

  @Test("lists only the services the server hosts, and needs no credential")
  func listServices() async throws {
    let answers = try await ask([.with { $0.listServices = "" }])
    #expect(answers.first?.listServicesResponse.service.map(\.name) == [
      "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection",
      "privacy.consent.v1.ConsentService",
    ])
  }

  @Test("describes a hosted service, method, message and enum value with the file's imports; nothing else")
  func describe() async throws {
    let answers = try await ask([
      .with { $0.fileContainingSymbol = "privacy.consent.v1.ConsentService" },
      .with { $0.fileContainingSymbol = "privacy.consent.v1.ConsentService.CheckConsent" },
      .with { $0.fileContainingSymbol = "privacy.common.v1.ACTOR_KIND_GUARDIAN" },
      .with { $0.fileByFilename = "google/protobuf/timestamp.proto" },
      .with { $0.fileContainingSymbol = "privacy.vault.v1.VaultService" },
      .with { $0.fileByFilename = "privacy/gateway/v1/gateway.proto" },
      .with { $0.fileContainingSymbol = "no.such.Thing" },
      .with { $0.allExtensionNumbersOfType = "google.protobuf.Timestamp" },
      .with { $0.fileContainingExtension = .with { $0.containingType = "google.protobuf.Timestamp"; $0.extensionNumber = 100 } },
      .with { $0.host = "localhost" },
    ])
    try #require(answers.count == 10)
    let service = try fileNames(answers[0])
    #expect(service.first == "privacy/consent/v1/consent.proto")
    #expect(Set(service) == ["privacy/consent/v1/consent.proto", "privacy/common/v1/common.proto", "google/protobuf/timestamp.proto"])
    #expect(try fileNames(answers[1]) == service)
    // The shared types' file, then the one it imports.
    #expect(try fileNames(answers[2]) == ["privacy/common/v1/common.proto", "google/protobuf/timestamp.proto"])
    #expect(try fileNames(answers[3]) == ["google/protobuf/timestamp.proto"])
    // The vault's and the gateway's API are not this server's to describe.
    for answer in answers[4...6] {
      #expect(answer.errorResponse.errorCode == Int32(RPCError.Code.notFound.rawValue), "\(answer)")
    }
    #expect(answers[7].allExtensionNumbersResponse.baseTypeName == "google.protobuf.Timestamp")
    #expect(answers[7].allExtensionNumbersResponse.extensionNumber.isEmpty)
    #expect(answers[8].errorResponse.errorCode == Int32(RPCError.Code.notFound.rawValue))
    #expect(answers[9].errorResponse.errorCode == Int32(RPCError.Code.invalidArgument.rawValue))
    #expect(answers[9].validHost == "localhost")
    #expect(answers[9].originalRequest.host == "localhost")
  }

  @Test("v1alpha answers like v1, for older clients")
  func v1alpha() async throws {
    let fixture = try ConsentFixture()
    let names = try await withRunningServer(try await fixture.makeServer()) { port async throws in
      try await withTestClient(port: port, token: nil) { client async throws in
        try await Grpc_Reflection_V1alpha_ServerReflection.Client(wrapping: client).serverReflectionInfo(
          requestProducer: { writer in try await writer.write(.with { $0.listServices = "*" }) },
          onResponse: { response in
            try await response.messages.reduce(into: []) { $0 += $1.listServicesResponse.service.map(\.name) }
          })
      }
    }
    #expect(names.contains("privacy.consent.v1.ConsentService"))
    #expect(names.contains("grpc.reflection.v1alpha.ServerReflection"))
  }
}
