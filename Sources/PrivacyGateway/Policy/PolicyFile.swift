import Foundation
import Yams

/// Reads the role policy file (`GATEWAY_POLICY_FILE`, YAML):
///
/// ```yaml
/// roles:
///   support:
///     description: Customer support.
///     methods:
///       - privacy.vault.v1.VaultService/GetRecord
///       - privacy.consent.v1.ConsentService/*
///     fields:
///       classification: {NONE: CLEAR, PERSONAL: CLEAR, SENSITIVE: MASKED}
///       special_category: {ANY: NONE}
///       tag: {billing: NONE}
///       field: {email: CLEAR}
///     override_blocklist: false
///     read_restricted: false   # sees the fields of a restricted record (art 18)
///     bound_to_link: false     # acts only for the subject of a preference link (LinkBinding)
/// ```
///
/// Everything is validated: an unknown method, service, role key, selector or level stops
/// start-up with a message naming it and its line.
public enum PolicyFile {
  /// Parses and validates a policy.
  /// - Parameter knownMethods: every full method name the gateway serves.
  public static func parse(_ text: String, knownMethods: Set<String>) throws -> Policy {
    do {
      return try read(text, knownMethods: knownMethods)
    } catch {
      throw PolicyError(description: error.description)
    }
  }

  private static func read(_ text: String, knownMethods: Set<String>) throws(FileProblem) -> Policy {
    let root = try YAMLDocument.root(text)
    let top = try YAMLDocument.mapping(root, "the policy", allowed: ["roles"])
    guard let rolesNode = top.first?.value else { throw FileProblem("the policy must have \"roles\"") }
    let knownServices = Set(knownMethods.map { String($0.split(separator: "/")[0]) })
    var roles: [RolePolicy] = []
    for (name, keyNode, value) in try YAMLDocument.mapping(rolesNode, "roles") {
      guard isName(name, maxLength: 32, extra: "-") else {
        throw FileProblem("role name \"\(name)\" must match [a-z][a-z0-9_-]{0,31}", at: keyNode)
      }
      roles.append(try role(name, value, knownMethods: knownMethods, knownServices: knownServices))
    }
    guard !roles.isEmpty else { throw FileProblem("the policy defines no role", at: rolesNode) }
    return Policy(roles: roles)
  }

  private static func role(_ name: String, _ node: Node, knownMethods: Set<String>, knownServices: Set<String>) throws(FileProblem) -> RolePolicy {
    var role = RolePolicy(name: name, methods: [], fields: FieldPolicy(rules: []))
    let pairs = try YAMLDocument.mapping(node, "role \(name)", allowed: ["description", "methods", "fields", "override_blocklist", "read_restricted", "bound_to_link"])
    for (key, _, value) in pairs {
      switch key {
      case "description":
        role.description = try YAMLDocument.string(value, "role \(name) description")
      case "methods":
        for item in try YAMLDocument.sequence(value, "role \(name) methods") {
          let text = try YAMLDocument.string(item, "a method of role \(name)")
          guard let pattern = MethodPattern(text) else {
            throw FileProblem("role \(name): \"\(text)\" is not a method (package.Service/Method or package.Service/*)", at: item)
          }
          switch pattern {
          case .method(let full) where !knownMethods.contains(full):
            throw FileProblem("role \(name): unknown method \"\(full)\"", at: item)
          case .service(let service) where !knownServices.contains(service):
            throw FileProblem("role \(name): unknown service \"\(service)\"", at: item)
          default:
            guard !role.methods.contains(pattern) else { throw FileProblem("role \(name) lists \"\(text)\" twice", at: item) }
            role.methods.append(pattern)
          }
        }
      case "fields":
        role.fields = FieldPolicy(rules: try fieldRules(value, role: name))
      case "override_blocklist":
        role.canOverrideBlocklist = try YAMLDocument.bool(value, "role \(name) override_blocklist")
      case "read_restricted":
        role.readsRestricted = try YAMLDocument.bool(value, "role \(name) read_restricted")
      case "bound_to_link":
        role.boundToLink = try YAMLDocument.bool(value, "role \(name) bound_to_link")
      default:
        break
      }
    }
    return role
  }

  private static func fieldRules(_ node: Node, role: String) throws(FileProblem) -> [FieldRule] {
    var rules: [FieldRule] = []
    let kinds = try YAMLDocument.mapping(node, "role \(role) fields", allowed: ["field", "tag", "special_category", "classification"])
    for (kind, _, value) in kinds {
      for (selector, keyNode, levelNode) in try YAMLDocument.mapping(value, "role \(role) fields.\(kind)") {
        let levelText = try YAMLDocument.string(levelNode, "the level of \(kind) \(selector)")
        guard let level = AccessLevel(rawValue: levelText) else {
          throw FileProblem(
            "role \(role): unknown level \"\(levelText)\" for \(kind) \(selector) (expected NONE, MASKED, CLEAR or REVEAL)",
            at: levelNode)
        }
        rules.append(FieldRule(try fieldSelector(kind, selector, role: role, at: keyNode), level))
      }
    }
    return rules
  }

  private static func fieldSelector(_ kind: String, _ text: String, role: String, at node: Node) throws(FileProblem) -> FieldSelector {
    switch kind {
    case "field", "tag":
      guard isName(text, maxLength: 63, extra: "") else {
        throw FileProblem("role \(role): \(kind) \"\(text)\" must match [a-z][a-z0-9_]{0,62}", at: node)
      }
      return kind == "field" ? .field(text) : .tag(text)
    case "special_category":
      guard SpecialCategoryName.all.contains(text) || text == SpecialCategoryName.any || text == SpecialCategoryName.criminalOffence
      else {
        let names = (SpecialCategoryName.all.sorted() + [SpecialCategoryName.criminalOffence, SpecialCategoryName.any]).joined(separator: ", ")
        throw FileProblem("role \(role): unknown special category \"\(text)\" (expected one of: \(names))", at: node)
      }
      return .specialCategory(text)
    default:
      guard let classification = FieldClassification(rawValue: text) else {
        throw FileProblem("role \(role): unknown classification \"\(text)\" (expected NONE, PERSONAL or SENSITIVE)", at: node)
      }
      return .classification(classification)
    }
  }

  /// `[a-z][a-z0-9_<extra>]{0,maxLength-1}`.
  static func isName(_ text: String, maxLength: Int, extra: String) -> Bool {
    let bytes = Array(text.utf8)
    guard let first = bytes.first, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first), bytes.count <= maxLength else { return false }
    let allowed = Set(Array("abcdefghijklmnopqrstuvwxyz0123456789_".utf8) + Array(extra.utf8))
    return bytes.allSatisfy(allowed.contains)
  }
}

/// The policy file is malformed or names something unknown.
public struct PolicyError: Error, CustomStringConvertible, Equatable {
  public var description: String
}
