public import Crypto
import Foundation
public import PrivacyKit

/// The key-encryption keys from `VAULT_MASTER_KEY` / `VAULT_MASTER_KEY_FILE`: one active key
/// (wraps every new data key) and older ones kept only to unwrap what they wrapped until
/// RotateMasterKey has moved it to the active key.
///
/// Accepted forms: one bare base64 32-byte key (its id is `default`), or a comma-separated list
/// `id:base64,id:base64,...` whose first entry is the active key. Ids are 1-64 characters of
/// `A-Z a-z 0-9 . _ -`. Error messages name the variable, never the key material.
public struct Keyring: Sendable {
  public static let defaultKeyID = "default"

  public let activeKeyID: String
  private let keys: [String: SymmetricKey]

  /// Every configured key id, the active one first.
  public let keyIDs: [String]

  public init(activeKeyID: String, keys: [(id: String, key: SymmetricKey)]) {
    self.activeKeyID = activeKeyID
    self.keyIDs = keys.map(\.id)
    self.keys = Dictionary(keys.map { ($0.id, $0.key) }, uniquingKeysWith: { first, _ in first })
  }

  /// Reads the keyring from the environment.
  public init(environment: EnvironmentReader) throws(ConfigurationError) {
    let name = "VAULT_MASTER_KEY"
    let variable = environment.string(name + "_FILE") != nil ? name + "_FILE" : name
    guard let text = try environment.secret(name) else {
      throw .malformed(name, "is required (or \(name)_FILE): 32 bytes in base64, or a keyring id:base64,id:base64,...")
    }
    try self.init(parsing: text, variable: variable)
  }

  public init(parsing text: String, variable: String) throws(ConfigurationError) {
    let entries = text.split(separator: ",", omittingEmptySubsequences: false).map { String($0).trimmingWhitespace }
    var keys: [(id: String, key: SymmetricKey)] = []
    if entries.count == 1 && !entries[0].contains(":") {
      keys.append((Self.defaultKeyID, try Self.key(entries[0], variable: variable, id: Self.defaultKeyID)))
    } else {
      for (index, entry) in entries.enumerated() {
        let parts = entry.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else {
          throw .malformed(variable, "entry \(index + 1) of the keyring must be id:base64")
        }
        let id = String(parts[0])
        guard Self.isValidKeyID(id) else {
          throw .malformed(variable, "entry \(index + 1) of the keyring has an invalid key id (1-64 characters of A-Z a-z 0-9 . _ -)")
        }
        guard !keys.contains(where: { $0.id == id }) else {
          throw .malformed(variable, "key id \(id) appears twice in the keyring")
        }
        keys.append((id, try Self.key(String(parts[1]), variable: variable, id: id)))
      }
    }
    self.init(activeKeyID: keys[0].id, keys: keys)
  }

  public func key(id: String) -> SymmetricKey? { keys[id] }

  public var activeKey: SymmetricKey { keys[activeKeyID]! }

  private static func key(_ text: String, variable: String, id: String) throws(ConfigurationError) -> SymmetricKey {
    guard let data = Data(base64Encoded: text), data.count == 32 else {
      throw .malformed(variable, "key \(id) must be exactly 32 bytes in base64")
    }
    return SymmetricKey(data: data)
  }

  private static func isValidKeyID(_ id: String) -> Bool {
    !id.isEmpty && id.utf8.count <= 64
      && id.utf8.allSatisfy { byte in
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
          || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_")
          || byte == UInt8(ascii: "-")
      }
  }
}
