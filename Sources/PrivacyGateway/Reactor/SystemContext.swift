import Foundation
import PrivacyKit

extension Gateway {
  /// A workflow context for work the gateway does on its own (the consent reactor, the scheduled
  /// retention sweep): actor `gateway` in `role`, which no API key can hold, sending the internal
  /// credential like any call, with `budget` to finish.
  func systemContext(role: String, method: String, budget: Duration) -> WorkflowContext {
    let call = Gateway.Call(
      principal: Principal(actor: "gateway", role: role, credentialKind: .apiKey, credentialID: ""),
      role: RolePolicy(name: role, methods: [], fields: FieldPolicy(rules: [])), requestID: UUID().uuidString.lowercased(),
      method: method, deadline: .now + budget, linkSubject: nil, internalToken: settings.internalToken)
    return WorkflowContext(gateway: self, call: call)
  }
}
