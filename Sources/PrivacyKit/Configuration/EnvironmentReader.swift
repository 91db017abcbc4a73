import Foundation

/// Typed access to environment variables. Every failure names the variable.
public struct EnvironmentReader: Sendable {
  public let values: [String: String]

  public init(_ values: [String: String]) {
    self.values = values
  }

  /// The value, or nil when unset or empty.
  public func string(_ name: String) -> String? {
    guard let value = values[name]?.trimmingCharacters(in: .whitespaces), !value.isEmpty else {
      return nil
    }
    return value
  }

  public func required(_ name: String) throws(ConfigurationError) -> String {
    guard let value = string(name) else { throw .missing(name) }
    return value
  }

  public func int(_ name: String, range: ClosedRange<Int>) throws(ConfigurationError) -> Int? {
    guard let text = string(name) else { return nil }
    guard let value = Int(text), range.contains(value) else {
      throw .malformed(name, "must be an integer in \(range.lowerBound)...\(range.upperBound), got \"\(text)\"")
    }
    return value
  }

  /// `1`, `true`, `yes` or `on` (any case) is true; `0`, `false`, `no`, `off` false.
  public func flag(_ name: String) throws(ConfigurationError) -> Bool {
    guard let text = string(name)?.lowercased() else { return false }
    switch text {
    case "1", "true", "yes", "on": return true
    case "0", "false", "no", "off": return false
    default: throw .malformed(name, "must be 1 or 0, got \"\(text)\"")
    }
  }

  /// A secret given either inline (`NAME`) or as a file path (`NAME_FILE`); both set is an error.
  public func secret(_ name: String) throws(ConfigurationError) -> String? {
    let fileVariable = name + "_FILE"
    switch (string(name), string(fileVariable)) {
    case (.some, .some):
      throw .malformed(name, "and \(fileVariable) are both set; set one")
    case (.some(let value), nil):
      return value
    case (nil, .some(let path)):
      do {
        return try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
      } catch {
        throw .malformed(fileVariable, "names a file that cannot be read: \(path)")
      }
    case (nil, nil):
      return nil
    }
  }
}
