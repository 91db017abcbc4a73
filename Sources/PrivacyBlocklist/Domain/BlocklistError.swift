public import PrivacyKit

/// What the blocklist refuses. Messages name positions and kinds, never values.
public enum BlocklistError: PrivacyError, Equatable {
  /// An identifier value that cannot be normalized, at its position in the request.
  case invalidIdentifier(index: Int, kind: IdentifierKind, problem: String)

  public static let errorDomain = "privacy.blocklist.v1"

  public var statusCode: StatusCode { .invalidArgument }

  public var message: String {
    switch self {
    case .invalidIdentifier(let index, _, let problem): "identifiers[\(index)]: \(problem)"
    }
  }

  public var reason: String? { "INVALID_IDENTIFIER" }

  public var reasonMetadata: [String: String] {
    switch self {
    case .invalidIdentifier(let index, let kind, _): ["index": String(index), "kind": "IDENTIFIER_KIND_\(kind.hashLabel)"]
    }
  }
}
