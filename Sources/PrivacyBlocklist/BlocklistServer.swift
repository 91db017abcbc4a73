public import Foundation
public import Logging
public import PrivacyKit

/// Configuration of the blocklist service: the common settings plus the pepper keyring
/// (`BLOCKLIST_PEPPER` / `BLOCKLIST_PEPPER_FILE`, required) and `BLOCKLIST_DEFAULT_COUNTRY_CODE`.
public struct BlocklistConfiguration: Sendable {
  public var service: ServiceConfiguration
  public var keyring: PepperKeyring
  /// Country calling code (digits) national phone numbers get; nil refuses national numbers.
  public var defaultCountryCode: String?

  public init(service: ServiceConfiguration, environment: EnvironmentReader) throws(ConfigurationError) {
    self.service = service
    self.keyring = try Self.keyring(environment)
    self.defaultCountryCode = try Self.countryCode(environment)
  }

  /// Either one bare base64 pepper of 32 bytes (id `default`), or `id:base64,id:base64,...` whose
  /// first entry is active. Errors name the variable that was set, never the secret.
  public static func keyring(_ environment: EnvironmentReader) throws(ConfigurationError) -> PepperKeyring {
    let variable = environment.string("BLOCKLIST_PEPPER_FILE") != nil && environment.string("BLOCKLIST_PEPPER") == nil
      ? "BLOCKLIST_PEPPER_FILE" : "BLOCKLIST_PEPPER"
    guard let text = try environment.secret("BLOCKLIST_PEPPER"), !text.isEmpty else {
      throw .malformed("BLOCKLIST_PEPPER", "(or BLOCKLIST_PEPPER_FILE) is required: 32 random bytes, base64")
    }
    let items = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
    if items.count == 1, !items[0].contains(":") {
      guard let secret = decodePepper(items[0]) else {
        throw .malformed(variable, "must be 32 bytes in base64 (or a keyring id:base64,id:base64,...)")
      }
      return PepperKeyring([Pepper(id: "default", secret: secret)])
    }
    var peppers: [Pepper] = []
    for (position, item) in items.enumerated() {
      let parts = item.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
      guard parts.count == 2 else {
        throw .malformed(variable, "entry \(position + 1) of the keyring must be id:base64")
      }
      let id = String(parts[0])
      guard (1...32).contains(id.utf8.count), id.utf8.allSatisfy(isPepperIDByte) else {
        throw .malformed(variable, "entry \(position + 1) of the keyring has an id that is not 1-32 characters of A-Z a-z 0-9 . _ -")
      }
      guard !peppers.contains(where: { $0.id == id }) else {
        throw .malformed(variable, "the keyring names pepper id \(id) twice")
      }
      guard let secret = decodePepper(String(parts[1])) else {
        throw .malformed(variable, "pepper \(id) must be 32 bytes in base64")
      }
      peppers.append(Pepper(id: id, secret: secret))
    }
    return PepperKeyring(peppers)
  }

  private static func decodePepper(_ text: String) -> Data? {
    var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
    while base64.count % 4 != 0 { base64 += "=" }
    guard let data = Data(base64Encoded: base64), data.count == 32 else { return nil }
    return data
  }

  private static func isPepperIDByte(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
      UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
      true
    default: false
    }
  }

  /// 1-3 digits, an optional leading `+` ignored, not starting with 0.
  static func countryCode(_ environment: EnvironmentReader) throws(ConfigurationError) -> String? {
    guard var text = environment.string("BLOCKLIST_DEFAULT_COUNTRY_CODE") else { return nil }
    if text.hasPrefix("+") { text.removeFirst() }
    guard (1...3).contains(text.count), text.allSatisfy({ $0.isASCII && $0.isNumber }), !text.hasPrefix("0") else {
      throw .malformed("BLOCKLIST_DEFAULT_COUNTRY_CODE", "must be a country calling code of 1-3 digits (for example 49), got \"\(text)\"")
    }
    return text
  }
}

/// Builds the blocklist server: reads the keyring, opens the store, loads the active entries
/// into memory and wires the handler. `now` is the clock (tests move it).
public func makeBlocklistServer(
  service: ServiceConfiguration, environment: EnvironmentReader, logger: Logger, metrics: ServerMetrics? = nil,
  now: @escaping @Sendable () -> Date = { Date() }
) async throws -> PrivacyServer {
  let configuration = try BlocklistConfiguration(service: service, environment: environment)
  let store: any BlocklistStore
  var postgres: PostgresPool?
  switch service.database {
  case .sqlite(let path):
    store = try SQLiteBlocklistStore(path: path, logger: logger)
  case .postgres(let settings):
    let postgresStore = try await PostgresBlocklistStore.open(settings, logger: logger)
    store = postgresStore
    postgres = postgresStore.database
  }
  let blocklist = try await Blocklist.open(
    store: store, keyring: configuration.keyring, normalizer: Normalizer(defaultCountryCode: configuration.defaultCountryCode),
    logger: logger, now: now)
  let replica = postgres.map { database in
    ReplicaFollower(database: database, channel: PostgresBlocklistStore.changesChannel, logger: logger) { try await blocklist.catchUp() }
  }
  let handler = BlocklistHandler(blocklist: blocklist, replica: replica)
  return PrivacyServer(
    configuration: service,
    services: [handler],
    serviceNames: ["privacy.blocklist.v1.BlocklistService"],
    synchronousMethods: handler.synchronousMethods,
    replica: replica,
    metrics: metrics,
    logger: logger
  )
}
