import Crypto
import Foundation
public import Logging
import PrivacyKit
import Synchronization

/// One API key as the keys file lists it: never the secret, only its SHA-256.
public struct APIKey: Sendable, Equatable {
  /// Public id, the part of `<id>.<secret>` before the dot: 1-64 of `A-Z a-z 0-9 _ -`.
  public var id: String
  public var role: String
  /// Who the key stands for (recorded as the actor of every call).
  public var actor: String
  /// SHA-256 of the secret.
  public var secretHash: [UInt8]
  public var revoked: Bool

  public init(id: String, role: String, actor: String, secretHash: [UInt8], revoked: Bool = false) {
    self.id = id
    self.role = role
    self.actor = actor
    self.secretHash = secretHash
    self.revoked = revoked
  }

  /// Whether `text` is a well-formed key id.
  public static func isValidID(_ text: String) -> Bool {
    !text.isEmpty && text.utf8.count <= 64
      && text.utf8.allSatisfy { byte in
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
          || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
      }
  }
}

/// The keys of a keys file, by id.
public struct APIKeyring: Sendable {
  private let keys: [String: APIKey]

  public init(_ keys: [APIKey]) {
    self.keys = Dictionary(keys.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
  }

  public var count: Int { keys.count }

  /// The key whose id and secret match, unless revoked. The secret's hash is compared in
  /// constant time, and an unknown id is compared against a dummy hash, so the time taken does
  /// not tell which part was wrong.
  public func authenticate(id: String, secret: String) -> APIKey? {
    let presented = Array(SHA256.hash(data: Data(secret.utf8)))
    guard let key = keys[id] else {
      _ = ConstantTime.equals(presented, Self.dummyHash)
      return nil
    }
    let matches = ConstantTime.equals(presented, key.secretHash)
    return matches && !key.revoked ? key : nil
  }

  private static let dummyHash = [UInt8](repeating: 0, count: 32)

  /// Parses a keys file (YAML or JSON):
  ///
  /// ```yaml
  /// keys:
  ///   - id: crm-sync          # public id, the part before the dot
  ///     role: service         # a role of the policy
  ///     actor: crm@example    # recorded as the actor of every call
  ///     sha256: 5e88...       # hex SHA-256 of the secret, never the secret
  ///     revoked: false        # optional
  /// ```
  public static func parse(_ text: String, policy: Policy) throws -> APIKeyring {
    do {
      return try read(text, policy: policy)
    } catch {
      throw APIKeysError(description: error.description)
    }
  }

  private static func read(_ text: String, policy: Policy) throws(FileProblem) -> APIKeyring {
    let root = try YAMLDocument.root(text)
    let top = try YAMLDocument.mapping(root, "the keys file", allowed: ["keys"])
    guard let list = top.first?.value else { throw FileProblem("the keys file must have \"keys\"") }
    var keys: [APIKey] = []
    var ids: Set<String> = []
    for item in try YAMLDocument.sequence(list, "keys") {
      var fields: [String: String] = [:]
      var revoked = false
      for (key, _, value) in try YAMLDocument.mapping(item, "a key", allowed: ["id", "role", "actor", "sha256", "revoked"]) {
        if key == "revoked" {
          revoked = try YAMLDocument.bool(value, "revoked")
        } else {
          fields[key] = try YAMLDocument.string(value, key)
        }
      }
      for required in ["id", "role", "actor", "sha256"] where (fields[required] ?? "").isEmpty {
        throw FileProblem("a key lacks \"\(required)\"", at: item)
      }
      let id = fields["id"]!
      guard APIKey.isValidID(id) else { throw FileProblem("key id \"\(id)\" must be 1-64 of A-Z a-z 0-9 _ -", at: item) }
      guard ids.insert(id).inserted else { throw FileProblem("key id \"\(id)\" is listed twice", at: item) }
      let role = fields["role"]!
      guard policy.role(role) != nil else { throw FileProblem("key \(id): unknown role \"\(role)\"", at: item) }
      let actor = fields["actor"]!
      guard actor.count <= 200, !actor.contains(where: { $0.isNewline }) else {
        throw FileProblem("key \(id): actor must be one line of at most 200 characters", at: item)
      }
      guard let hash = hexBytes(fields["sha256"]!.lowercased()), hash.count == 32 else {
        throw FileProblem("key \(id): sha256 must be 64 hex digits (the SHA-256 of the secret)", at: item)
      }
      keys.append(APIKey(id: id, role: role, actor: actor, secretHash: hash, revoked: revoked))
    }
    return APIKeyring(keys)
  }

  private static func hexBytes(_ text: String) -> [UInt8]? {
    let digits = Array(text.utf8)
    guard digits.count % 2 == 0 else { return nil }
    var bytes: [UInt8] = []
    for index in stride(from: 0, to: digits.count, by: 2) {
      guard let high = hexValue(digits[index]), let low = hexValue(digits[index + 1]) else { return nil }
      bytes.append(high << 4 | low)
    }
    return bytes
  }

  private static func hexValue(_ digit: UInt8) -> UInt8? {
    switch digit {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
    default: nil
    }
  }
}

/// The keys file is malformed or names an unknown role.
public struct APIKeysError: Error, CustomStringConvertible, Equatable {
  public var description: String
}

/// The keys file, read at start and read again when it changes (checked at most once a second),
/// so a key is revoked or added without a restart. A changed file that no longer parses fails
/// closed: no API key is accepted until it is fixed.
public final class APIKeyFile: Sendable {
  private struct State {
    var keyring: APIKeyring?
    var modified: Date?
    var size: Int?
    var checkedAt: ContinuousClock.Instant
  }

  public let path: String
  private let policy: Policy
  private let logger: Logger
  private let state: Mutex<State>
  private static let checkInterval: Duration = .seconds(1)

  /// Reads the file; throws when it cannot be read or is invalid (start-up stops).
  public init(path: String, policy: Policy, logger: Logger) throws {
    self.path = path
    self.policy = policy
    self.logger = logger
    let (keyring, modified, size) = try Self.load(path, policy: policy)
    self.state = Mutex(State(keyring: keyring, modified: modified, size: size, checkedAt: .now))
  }

  /// The keys in force.
  public var keyring: APIKeyring? {
    let now = ContinuousClock.now
    let (due, modified, size): (Bool, Date?, Int?) = state.withLock { state in
      guard now - state.checkedAt >= Self.checkInterval else { return (false, nil, nil) }
      state.checkedAt = now
      return (true, state.modified, state.size)
    }
    if due {
      let attributes = try? FileManager.default.attributesOfItem(atPath: path)
      let newModified = attributes?[.modificationDate] as? Date
      let newSize = (attributes?[.size] as? NSNumber)?.intValue
      if newModified != modified || newSize != size { reload() }
    }
    return state.withLock { $0.keyring }
  }

  private func reload() {
    do {
      let (keyring, modified, size) = try Self.load(path, policy: policy)
      state.withLock {
        $0.keyring = keyring
        $0.modified = modified
        $0.size = size
      }
      logger.notice("API keys file reloaded", metadata: ["keys.count": "\(keyring.count)"])
    } catch {
      let attributes = try? FileManager.default.attributesOfItem(atPath: path)
      state.withLock {
        $0.keyring = nil
        $0.modified = attributes?[.modificationDate] as? Date
        $0.size = (attributes?[.size] as? NSNumber)?.intValue
      }
      logger.error("API keys file changed and is invalid; refusing every API key until it is fixed", metadata: ["error": "\(error)"])
    }
  }

  private static func load(_ path: String, policy: Policy) throws -> (APIKeyring, Date?, Int?) {
    let attributes = try? FileManager.default.attributesOfItem(atPath: path)
    let text: String
    do {
      text = try String(contentsOfFile: path, encoding: .utf8)
    } catch {
      throw APIKeysError(description: "cannot read \(path)")
    }
    return (try APIKeyring.parse(text, policy: policy), attributes?[.modificationDate] as? Date, (attributes?[.size] as? NSNumber)?.intValue)
  }
}
