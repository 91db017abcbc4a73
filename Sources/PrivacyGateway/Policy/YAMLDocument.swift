import Yams

/// A problem in a configuration file, with the line it is on.
struct FileProblem: Error, CustomStringConvertible {
  var line: Int?
  var message: String

  init(_ message: String, at node: Node? = nil) {
    self.line = node?.mark?.line
    self.message = message
  }

  var description: String {
    line.map { "line \($0): \(message)" } ?? message
  }
}

/// Strict reading of a YAML (or JSON) document: every mapping's keys are checked against what
/// the reader expects, so a misspelt key stops start-up instead of silently granting nothing.
enum YAMLDocument {
  static func root(_ text: String) throws(FileProblem) -> Node {
    let node: Node?
    do {
      node = try Yams.compose(yaml: text)
    } catch {
      throw FileProblem("not valid YAML or JSON: \(error)")
    }
    guard let node else { throw FileProblem("the file is empty") }
    return node
  }

  /// The node's key-value pairs; refuses a non-mapping, duplicate keys and keys outside `allowed`
  /// (nil allows any key).
  static func mapping(_ node: Node, _ what: String, allowed: Set<String>? = nil) throws(FileProblem) -> [(key: String, keyNode: Node, value: Node)] {
    guard let mapping = node.mapping else { throw FileProblem("\(what) must be a mapping", at: node) }
    var seen: Set<String> = []
    var pairs: [(key: String, keyNode: Node, value: Node)] = []
    for (keyNode, value) in mapping {
      guard let key = keyNode.scalar?.string else { throw FileProblem("\(what) has a key that is not a plain name", at: keyNode) }
      if let allowed, !allowed.contains(key) {
        throw FileProblem("unknown key \"\(key)\" in \(what) (expected one of: \(allowed.sorted().joined(separator: ", ")))", at: keyNode)
      }
      guard seen.insert(key).inserted else { throw FileProblem("\(what) has \"\(key)\" twice", at: keyNode) }
      pairs.append((key, keyNode, value))
    }
    return pairs
  }

  static func sequence(_ node: Node, _ what: String) throws(FileProblem) -> [Node] {
    guard let sequence = node.sequence else { throw FileProblem("\(what) must be a list", at: node) }
    return Array(sequence)
  }

  static func string(_ node: Node, _ what: String) throws(FileProblem) -> String {
    guard let scalar = node.scalar else { throw FileProblem("\(what) must be a plain value", at: node) }
    return scalar.string
  }

  static func bool(_ node: Node, _ what: String) throws(FileProblem) -> Bool {
    guard let value = node.bool else { throw FileProblem("\(what) must be true or false", at: node) }
    return value
  }
}
