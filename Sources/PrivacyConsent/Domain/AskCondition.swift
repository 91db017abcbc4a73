/// When a purpose is asked of a subject (`Purpose.ask_when`): a condition over the subject's
/// attributes (`SetSubjectAttributes`), in a small grammar:
///
/// ```
/// condition := all ( "or" all )*
/// all       := test ( "and" test )*
/// test      := NAME "==" STRING | NAME "!=" STRING | NAME "in" "[" STRING ( "," STRING )* "]"
/// NAME      := [a-z][a-z0-9_]{0,63}
/// STRING    := '"' any character but '"' and '\' '"'
/// ```
///
/// For example `region == "EU" and stage in ["ready_to_buy", "customer"]`. An attribute the
/// subject lacks equals no value (so `!=` holds). The empty condition always holds.
public struct AskCondition: Sendable, Equatable {
  /// Alternatives, each a conjunction of tests.
  let alternatives: [[Test]]
  public let text: String

  enum Test: Sendable, Equatable {
    case equals(String, String)
    case differs(String, String)
    case among(String, [String])

    func holds(for attributes: [String: String]) -> Bool {
      switch self {
      case .equals(let name, let value): attributes[name] == value
      case .differs(let name, let value): attributes[name] != value
      case .among(let name, let values): attributes[name].map(values.contains) ?? false
      }
    }
  }

  /// The condition that always holds.
  public static let always = AskCondition(alternatives: [], text: "")

  private init(alternatives: [[Test]], text: String) {
    self.alternatives = alternatives
    self.text = text
  }

  /// Parses a condition; the error names what was expected where.
  public init(_ text: String) throws(ConditionError) {
    guard text.utf8.count <= 1000 else { throw ConditionError("is longer than 1,000 characters") }
    var parser = Parser(tokens: try Self.tokens(text))
    self.init(alternatives: try parser.condition(), text: text)
  }

  public func holds(for attributes: [String: String]) -> Bool {
    alternatives.isEmpty || alternatives.contains { $0.allSatisfy { $0.holds(for: attributes) } }
  }

  /// A syntax error, described for the caller (the condition is theirs, so it may be quoted).
  public struct ConditionError: Error, Equatable, Sendable {
    public let problem: String
    init(_ problem: String) { self.problem = problem }
  }

  enum Token: Equatable {
    case name(String)
    case string(String)
    case symbol(String)
  }

  static func tokens(_ text: String) throws(ConditionError) -> [Token] {
    var tokens: [Token] = []
    var characters = Array(text)[...]
    while let first = characters.first {
      if first.isWhitespace {
        characters.removeFirst()
      } else if first == "\"" {
        characters.removeFirst()
        guard let end = characters.firstIndex(of: "\"") else { throw ConditionError("has a string without its closing quote") }
        let value = String(characters[..<end])
        guard !value.contains("\\") else { throw ConditionError("has a backslash in a string (not supported)") }
        tokens.append(.string(value))
        characters = characters[characters.index(after: end)...]
      } else if first.isLetter || first == "_" {
        let name = String(characters.prefix { $0.isLetter || $0.isNumber || $0 == "_" })
        characters.removeFirst(name.count)
        tokens.append(.name(name))
      } else if characters.starts(with: "==") || characters.starts(with: "!=") {
        tokens.append(.symbol(String(characters.prefix(2))))
        characters.removeFirst(2)
      } else if "[],".contains(first) {
        tokens.append(.symbol(String(first)))
        characters.removeFirst()
      } else {
        throw ConditionError("has an unexpected character \"\(first)\"")
      }
    }
    return tokens
  }

  private struct Parser {
    var tokens: [Token]
    var position = 0

    mutating func condition() throws(ConditionError) -> [[Test]] {
      guard !tokens.isEmpty else { return [] }
      var alternatives = [try conjunction()]
      while accept(.name("or")) { alternatives.append(try conjunction()) }
      guard position == tokens.count else { throw ConditionError("expects \"and\", \"or\" or the end after a test") }
      return alternatives
    }

    mutating func conjunction() throws(ConditionError) -> [Test] {
      var tests = [try test()]
      while accept(.name("and")) { tests.append(try test()) }
      return tests
    }

    mutating func test() throws(ConditionError) -> Test {
      guard case .name(let name)? = next(), !["and", "or", "in"].contains(name), Self.isAttribute(name) else {
        throw ConditionError("expects an attribute name ([a-z][a-z0-9_]{0,63}) as word \(position + 1)")
      }
      if accept(.symbol("==")) { return .equals(name, try string()) }
      if accept(.symbol("!=")) { return .differs(name, try string()) }
      guard accept(.name("in")), accept(.symbol("[")) else { throw ConditionError("expects ==, != or in after \(name)") }
      var values = [try string()]
      while accept(.symbol(",")) { values.append(try string()) }
      guard accept(.symbol("]")) else { throw ConditionError("expects , or ] in the list after \(name) in") }
      return .among(name, values)
    }

    mutating func string() throws(ConditionError) -> String {
      guard case .string(let value)? = next() else { throw ConditionError("expects a quoted string") }
      return value
    }

    mutating func next() -> Token? {
      guard position < tokens.count else { return nil }
      defer { position += 1 }
      return tokens[position]
    }

    mutating func accept(_ token: Token) -> Bool {
      guard position < tokens.count, tokens[position] == token else { return false }
      position += 1
      return true
    }

    static func isAttribute(_ name: String) -> Bool { AskCondition.isAttributeName(name) }
  }

  /// `[a-z][a-z0-9_]{0,63}`: an attribute's name.
  public static func isAttributeName(_ name: String) -> Bool {
    let bytes = Array(name.utf8)
    guard let first = bytes.first, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first), bytes.count <= 64 else { return false }
    return bytes.allSatisfy {
      (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || $0 == UInt8(ascii: "_")
    }
  }
}

/// The limits of a subject's attributes (`SetSubjectAttributes`).
public enum SubjectAttributes {
  /// At most this many attributes per subject.
  public static let maxCount = 50
}
