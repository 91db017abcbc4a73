import Foundation
import GRPCCore
import PrivacyKit
import PrivacyProtocol
import ZIPFoundation

/// GetArtifact through the gateway. An access or portability bundle holds every vault field of
/// the person in clear, so it goes only to a role with CLEAR on every field it holds, or to the
/// person through the one-time download link mailed to their verified address (the rights
/// service checks and uses up its token); any other caller is refused the whole bundle, never
/// given part of it. The audit entry names the fields the bundle revealed. Artifacts of other
/// requests pass as they are.
enum BundleDelivery {
  typealias GetArtifact = Privacy_Rights_V1_SubjectRightsService.Method.GetArtifact

  @Sendable static func getArtifact(
    _ message: GetArtifact.Input, _ call: Gateway.Call, _ forward: Forwarder<GetArtifact.Input, GetArtifact.Output>
  ) async throws -> Gateway.Answer<GetArtifact.Output> {
    let context = WorkflowContext(gateway: forward.gateway, call: call)
    let response = try await forward(message, call)
    let request = try await context.send(RightsMethod.GetRequest.self, .with { $0.requestID = message.requestID }).request
    guard request.right == .access || request.right == .portability else { return Gateway.Answer(response) }
    let definitions = try await context.vaultFields()
    // A bundle this gateway did not build (or cannot read) is taken to hold every field.
    let names = fieldsWithValues(response.artifact.content) ?? definitions.keys.sorted()
    let facts = names.map { name in
      definitions[name].map(FieldFacts.init) ?? FieldFacts(name: name, classification: .sensitive)
    }
    let notClear = message.downloadToken.isEmpty ? facts.filter { call.level(for: $0) != .clear }.map(\.name) : []
    guard notClear.isEmpty else {
      throw PermissionDenied(
        message: "role \(call.role.name) may not receive this bundle: it holds fields the role may not see in clear (\(notClear.joined(separator: ", ")))")
    }
    return Gateway.Answer(response, fieldsRevealed: names)
  }

  /// The names of the fields holding a value in the bundle's `data.json`; nil when the content is
  /// not such a bundle.
  static func fieldsWithValues(_ content: Data) -> [String]? {
    guard let archive = try? Archive(data: content, accessMode: .read), let entry = archive["data.json"] else { return nil }
    var json = Data()
    guard (try? archive.extract(entry, consumer: { json.append($0) })) != nil,
      let document = try? JSONSerialization.jsonObject(with: json) as? [String: Any],
      let personal = document["personal_data"] as? [String: Any], let fields = personal["fields"] as? [[String: Any]]
    else { return nil }
    return fields.compactMap { field in
      guard let name = field["name"] as? String, let value = field["value"] as? String, !value.isEmpty else { return nil }
      return name
    }.sorted()
  }
}
