import PrivacyKit
public import PrivacyProtocol

extension FieldFacts {
  /// The facts of a field as the vault returns them with a value.
  init(_ value: Privacy_Vault_V1_FieldValue) {
    self.init(
      name: value.name, classification: FieldClassification(value.classification), tags: value.tags,
      specialCategory: SpecialCategoryName.name(value.specialCategory), criminalOffence: value.criminalOffence)
  }

  /// The facts of a field definition (ListFields).
  init(_ definition: Privacy_Vault_V1_FieldDefinition) {
    self.init(
      name: definition.name, classification: FieldClassification(definition.classification), tags: definition.tags,
      specialCategory: SpecialCategoryName.name(definition.specialCategory), criminalOffence: definition.criminalOffence)
  }
}

extension FieldClassification {
  /// An unset or unknown classification is treated as SENSITIVE: when in doubt, protect.
  init(_ proto: Privacy_Vault_V1_Classification) {
    switch proto {
    case .none: self = .none
    case .personal: self = .personal
    case .sensitive, .unspecified, .UNRECOGNIZED: self = .sensitive
    }
  }
}

extension SpecialCategoryName {
  static func name(_ proto: Privacy_Vault_V1_SpecialCategory) -> String? {
    switch proto {
    case .unspecified: nil
    case .health: "HEALTH"
    case .racialOrEthnicOrigin: "RACIAL_OR_ETHNIC_ORIGIN"
    case .politicalOpinion: "POLITICAL_OPINION"
    case .religionOrBelief: "RELIGION_OR_BELIEF"
    case .tradeUnionMembership: "TRADE_UNION_MEMBERSHIP"
    case .genetic: "GENETIC"
    case .biometric: "BIOMETRIC"
    case .sexLifeOrOrientation: "SEX_LIFE_OR_ORIENTATION"
    // An unknown category is still a special category.
    case .UNRECOGNIZED: SpecialCategoryName.any
    }
  }
}

/// Applies a role's field policy to a record on its way out. Built from the policy, deny by
/// default: every field is looked up, and a field no rule grants is removed. Workflows that
/// embed vault values in their answers (issue 6) filter them with it too.
public struct RecordFilter: Sendable {
  public let fields: FieldPolicy
  /// Whether the role may see a restricted record's fields (`read_restricted`).
  public let readsRestricted: Bool

  public init(fields: FieldPolicy, readsRestricted: Bool = false) {
    self.fields = fields
    self.readsRestricted = readsRestricted
  }

  /// The filter of a role.
  public init(role: RolePolicy) {
    self.init(fields: role.fields, readsRestricted: role.readsRestricted)
  }

  public struct Outcome: Sendable {
    public var record: Privacy_Vault_V1_Record
    /// Fields removed (level NONE), sorted.
    public var withheld: [String]
    /// Fields left holding a clear value, sorted.
    public var clear: [String]
  }

  /// A restricted record (art 18) keeps only its non-personal fields for a role without
  /// `read_restricted`: the others are withheld whatever the role's levels.
  public func apply(_ record: Privacy_Vault_V1_Record) -> Outcome {
    var filtered = record
    var withheld: [String] = []
    var clear: [String] = []
    let hidesPersonal = record.restricted && !readsRestricted
    filtered.fields = record.fields.compactMap { value in
      let facts = FieldFacts(value)
      let level = hidesPersonal && facts.classification != .none ? .none : fields.level(for: facts)
      switch level {
      case .none:
        withheld.append(value.name)
        return nil
      case .masked, .reveal:
        return Self.masked(value)
      case .clear:
        if !value.masked && !value.value.isEmpty { clear.append(value.name) }
        return value
      }
    }
    return Outcome(record: filtered, withheld: withheld.sorted(), clear: clear.sorted())
  }

  /// The value as a role with MASKED (or REVEAL) access sees it: a value the vault already
  /// masked stays as it is; a clear one is masked with the field's mask by the vault's own
  /// masking rule (a field without a mask gets FULL: MASKED never shows the clear value). The
  /// source's IP address goes too.
  public static func masked(_ value: Privacy_Vault_V1_FieldValue) -> Privacy_Vault_V1_FieldValue {
    var value = value
    if !value.masked && !value.value.isEmpty {
      let mask: Mask = switch Mask(value.mask) {
      case .last4?: .last4
      case .email?: .email
      case .full?, .none?, nil: .full
      }
      value.value = Masking.apply(mask, to: value.value)
      value.masked = true
    }
    if value.hasSource { value.source.ipAddress = "" }
    return value
  }
}

/// The vault methods whose answers carry field values, or that reveal one.
enum VaultFiltering {
  typealias Vault = Privacy_Vault_V1_VaultService.Method

  /// GetRecord: the record filtered for the role; withheld fields named.
  @Sendable static func getRecord(
    _ message: Vault.GetRecord.Input, _ call: Gateway.Call, _ forward: Forwarder<Vault.GetRecord.Input, Vault.GetRecord.Output>
  ) async throws -> Gateway.Answer<Vault.GetRecord.Output> {
    var response = try await forward(message, call)
    let outcome = RecordFilter(role: call.role).apply(response.record)
    response.record = outcome.record
    response.withheldFields = outcome.withheld
    return Gateway.Answer(response)
  }

  /// GetRecords: each record found filtered like GetRecord's; the withheld fields of all of them.
  @Sendable static func getRecords(
    _ message: Vault.GetRecords.Input, _ call: Gateway.Call, _ forward: Forwarder<Vault.GetRecords.Input, Vault.GetRecords.Output>
  ) async throws -> Gateway.Answer<Vault.GetRecords.Output> {
    var response = try await forward(message, call)
    let filter = RecordFilter(role: call.role)
    var withheld: Set<String> = []
    for index in response.results.indices where response.results[index].hasRecord {
      let outcome = filter.apply(response.results[index].record)
      withheld.formUnion(outcome.withheld)
      response.results[index].record = outcome.record
    }
    response.withheldFields = withheld.sorted()
    return Gateway.Answer(response)
  }

  /// ExportRecord: clear values from the vault, filtered for the role; the fields left in clear
  /// are audited as revealed.
  @Sendable static func exportRecord(
    _ message: Vault.ExportRecord.Input, _ call: Gateway.Call, _ forward: Forwarder<Vault.ExportRecord.Input, Vault.ExportRecord.Output>
  ) async throws -> Gateway.Answer<Vault.ExportRecord.Output> {
    var response = try await forward(message, call)
    let outcome = RecordFilter(role: call.role).apply(response.record)
    response.record = outcome.record
    response.withheldFields = outcome.withheld
    return Gateway.Answer(response, fieldsRevealed: outcome.clear)
  }

  /// FindByField: searching a field the role may not see at all would confirm its values, so
  /// it is refused; the records found are filtered like GetRecord's.
  @Sendable static func findByField(
    _ message: Vault.FindByField.Input, _ call: Gateway.Call, _ forward: Forwarder<Vault.FindByField.Input, Vault.FindByField.Output>
  ) async throws -> Gateway.Answer<Vault.FindByField.Output> {
    if let facts = try await FieldCatalog.facts(of: message.field, backend: forward.backend, call: call), call.level(for: facts) == .none {
      throw PermissionDenied(message: "role \(call.role.name) may not search field \(message.field.clipped)")
    }
    var response = try await forward(message, call)
    let filter = RecordFilter(role: call.role)
    var withheld: Set<String> = []
    response.records = response.records.map { record in
      let outcome = filter.apply(record)
      withheld.formUnion(outcome.withheld)
      return outcome.record
    }
    response.withheldFields = withheld.sorted()
    return Gateway.Answer(response)
  }

  /// RevealField: only for a field the role has REVEAL or CLEAR on, decided before the vault is
  /// called; the field is audited as revealed.
  @Sendable static func revealField(
    _ message: Vault.RevealField.Input, _ call: Gateway.Call, _ forward: Forwarder<Vault.RevealField.Input, Vault.RevealField.Output>
  ) async throws -> Gateway.Answer<Vault.RevealField.Output> {
    guard let facts = try await FieldCatalog.facts(of: message.field, backend: forward.backend, call: call) else {
      throw RPCNotFound(message: "unknown field \(message.field.clipped)")
    }
    guard call.level(for: facts).mayReveal else {
      throw PermissionDenied(message: "role \(call.role.name) may not reveal field \(facts.name)")
    }
    let response = try await forward(message, call)
    return Gateway.Answer(response, fieldsRevealed: [facts.name])
  }
}

/// The vault's field schema, read when a decision needs a field's classification and tags
/// before any value is fetched (RevealField, FindByField). Read fresh each time: a
/// reclassification applies at once, and these calls are not hot paths.
enum FieldCatalog {
  static func facts(of name: String, backend: Backend, call: Gateway.Call) async throws -> FieldFacts? {
    var token = ""
    repeat {
      let page: Privacy_Vault_V1_ListFieldsResponse = try await backend.unary(
        Privacy_Vault_V1_ListFieldsRequest.with {
          $0.pageSize = 1000
          $0.pageToken = token
        }, method: Privacy_Vault_V1_VaultService.Method.ListFields.descriptor, metadata: call.backendMetadata,
        options: try call.backendOptions())
      if let definition = page.fields.first(where: { $0.name == name }) { return FieldFacts(definition) }
      token = page.nextPageToken
    } while !token.isEmpty
    return nil
  }
}

/// Something the request names does not exist.
struct RPCNotFound: PrivacyError {
  static let errorDomain = "privacy.gateway.v1"
  var message: String
  var statusCode: StatusCode { .notFound }
}
