import Foundation
import PrivacyProtocol

/// The preference form as posted (`application/x-www-form-urlencoded`), turned into the changes
/// it asks for against the subject's current state. Nothing is applied here: the changes are
/// requested, and take effect when the subject follows the emailed confirmation.
struct PreferenceForm {
  /// The ticked boxes, by field name (`purpose.<id>`, `accept.<id>`, `list.<id>`).
  let ticked: Set<String>
  let csrf: String

  /// A form that is not one the page sent: a clear page, nothing changed.
  struct Malformed: Error {}

  /// Parses the body; any field the page does not send, or a box with another value than `on`,
  /// makes it malformed.
  init(body: String) throws(Malformed) {
    var ticked: Set<String> = []
    var csrf: String?
    for (name, value) in try Self.pairs(body) {
      if name == "csrf" {
        guard csrf == nil else { throw Malformed() }
        csrf = value
        continue
      }
      let parts = name.split(separator: ".", maxSplits: 1)
      guard parts.count == 2, ["purpose", "accept", "list"].contains(parts[0]), value == "on", !ticked.contains(name) else { throw Malformed() }
      ticked.insert(name)
    }
    guard let csrf else { throw Malformed() }
    self.ticked = ticked
    self.csrf = csrf
  }

  /// The fields of a small form of hidden fields and buttons: exactly `names`, each once.
  static func fields(_ body: String, names: Set<String>) throws(Malformed) -> [String: String] {
    var fields: [String: String] = [:]
    for (name, value) in try pairs(body) {
      guard names.contains(name), fields[name] == nil else { throw Malformed() }
      fields[name] = value
    }
    guard fields.count == names.count else { throw Malformed() }
    return fields
  }

  /// The name-value pairs of a urlencoded body, at most 1,000.
  static func pairs(_ body: String) throws(Malformed) -> [(String, String)] {
    guard !body.isEmpty else { return [] }
    let items = body.split(separator: "&", omittingEmptySubsequences: false)
    guard items.count <= 1000 else { throw Malformed() }
    var pairs: [(String, String)] = []
    for item in items {
      let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
      guard parts.count == 2,
        let name = parts[0].replacingOccurrences(of: "+", with: " ").removingPercentEncoding,
        let value = parts[1].replacingOccurrences(of: "+", with: " ").removingPercentEncoding
      else { throw Malformed() }
      pairs.append((name, value))
    }
    return pairs
  }

  /// The changes the form asks for. A box for something the page does not offer makes the form
  /// malformed (a stale page: a purpose or list removed since).
  func changes(against current: SubjectPreferences, gpc: Bool) throws(Malformed) -> [Privacy_Consent_V1_PreferenceChange] {
    var offered: Set<String> = []
    var changes: [Privacy_Consent_V1_PreferenceChange] = []
    func decide(_ purposeID: String, _ decision: Privacy_Consent_V1_Decision) {
      changes.append(.with { $0.consent = .with { $0.purposeID = purposeID; $0.decision = decision } })
    }
    for purpose in current.purposes {
      let id = purpose.purposeID
      let state = current.decisions[id]
      let decision = state?.decision ?? .unspecified
      let box = "purpose.\(id)"
      let signalled = gpc && PurposeChoice.gpcCategories.contains(purpose.category)
      switch PurposeChoice(purpose: purpose, state: state, gpc: gpc) {
      case .consent:
        offered.insert(box)
        let accept = "accept.\(id)"
        if decision == .granted && state?.noticeVersion != purpose.noticeVersion { offered.insert(accept) }
        if ticked.contains(box) {
          if decision != .granted || ticked.contains(accept) { decide(id, .granted) }
        } else if decision == .granted {
          decide(id, .withdrawn)
        } else if signalled && decision == .unspecified {
          decide(id, .denied)
        }
      case .objection:
        guard decision != .denied else { continue }
        offered.insert(box)
        if ticked.contains(box) { decide(id, .denied) }
      case .none:
        continue
      }
    }
    for list in current.lists {
      let box = "list.\(list.listID)"
      offered.insert(box)
      let subscribed = current.subscribed[list.listID] ?? list.defaultSubscribed
      if ticked.contains(box) != subscribed {
        changes.append(.with { $0.subscription = .with { $0.listID = list.listID; $0.subscribed = !subscribed } })
      }
    }
    guard ticked.isSubset(of: offered) else { throw Malformed() }
    return changes
  }
}
