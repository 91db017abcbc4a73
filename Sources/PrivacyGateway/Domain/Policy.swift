/// Which methods a rule in the policy grants: one method by full name, or every method of a
/// service (`privacy.vault.v1.VaultService/*`).
public enum MethodPattern: Sendable, Hashable, CustomStringConvertible {
  case method(String)
  case service(String)

  /// Parses `package.Service/Method` or `package.Service/*`; nil when malformed.
  public init?(_ text: String) {
    let parts = text.split(separator: "/", omittingEmptySubsequences: false)
    guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
    self = parts[1] == "*" ? .service(String(parts[0])) : .method(text)
  }

  public func matches(_ fullMethod: String) -> Bool {
    switch self {
    case .method(let name): return name == fullMethod
    case .service(let service):
      return fullMethod.utf8.count > service.utf8.count + 1 && fullMethod.hasPrefix(service + "/")
    }
  }

  public var description: String {
    switch self {
    case .method(let name): name
    case .service(let service): service + "/*"
    }
  }
}

/// What one role may do.
public struct RolePolicy: Sendable, Equatable {
  public var name: String
  public var description: String
  /// The methods granted, as written.
  public var methods: [MethodPattern]
  public var fields: FieldPolicy
  /// Whether the role may override a blocklist match in CreateContact (with a reason).
  public var canOverrideBlocklist: Bool
  /// Whether the role sees the fields of a restricted record (art 18) at its levels; without
  /// this grant they are withheld from it.
  public var readsRestricted: Bool
  /// Whether the role acts only for the subject of a preference link (`LinkBinding`).
  public var boundToLink: Bool

  public init(
    name: String, description: String = "", methods: [MethodPattern], fields: FieldPolicy, canOverrideBlocklist: Bool = false,
    readsRestricted: Bool = false, boundToLink: Bool = false
  ) {
    self.readsRestricted = readsRestricted
    self.boundToLink = boundToLink
    self.name = name
    self.description = description
    self.methods = methods
    self.fields = fields
    self.canOverrideBlocklist = canOverrideBlocklist
  }

  public func allows(method fullMethod: String) -> Bool {
    methods.contains { $0.matches(fullMethod) }
  }
}

/// The whole access policy: roles by name. Anything not granted is denied.
public struct Policy: Sendable, Equatable {
  public var roles: [String: RolePolicy]

  public init(roles: [RolePolicy]) {
    self.roles = Dictionary(roles.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
  }

  public func role(_ name: String) -> RolePolicy? { roles[name] }

  /// Methods every authenticated caller may call whatever its role's grants.
  public static let alwaysAllowed: Set<String> = ["privacy.gateway.v1.AdminService/WhoAmI"]

  /// Whether `role` may call `fullMethod`; false for an unknown role.
  public func allows(role: String, method fullMethod: String) -> Bool {
    if Self.alwaysAllowed.contains(fullMethod) { return roles[role] != nil }
    return roles[role]?.allows(method: fullMethod) ?? false
  }
}
