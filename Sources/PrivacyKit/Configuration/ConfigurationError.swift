/// A configuration value that stops start-up. The message always names the variable.
public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
  /// The environment variable at fault.
  public var variable: String
  /// What is wrong with it.
  public var problem: String

  public init(variable: String, problem: String) {
    self.variable = variable
    self.problem = problem
  }

  public static func missing(_ variable: String) -> Self {
    Self(variable: variable, problem: "is required but not set")
  }

  public static func malformed(_ variable: String, _ problem: String) -> Self {
    Self(variable: variable, problem: problem)
  }

  public var description: String { "\(variable) \(problem)" }
}
