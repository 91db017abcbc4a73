public import GRPCCore
import GRPCProtobuf

/// The status codes our services use (DESIGN.md, "Errors"). Domain code names these instead of
/// gRPC types, so rules stay free of the wire.
public enum StatusCode: Sendable, Equatable {
  case invalidArgument
  case notFound
  case alreadyExists
  case failedPrecondition
  case permissionDenied
  case unauthenticated
  case resourceExhausted
  case unavailable
  case dataLoss
  case internalError

  var rpcCode: RPCError.Code {
    switch self {
    case .invalidArgument: .invalidArgument
    case .notFound: .notFound
    case .alreadyExists: .alreadyExists
    case .failedPrecondition: .failedPrecondition
    case .permissionDenied: .permissionDenied
    case .unauthenticated: .unauthenticated
    case .resourceExhausted: .resourceExhausted
    case .unavailable: .unavailable
    case .dataLoss: .dataLoss
    case .internalError: .internalError
    }
  }
}

/// A typed domain error. Conforming types become a gRPC status with their code and message, and
/// with a `google.rpc.ErrorInfo` detail when `reason` is set, so clients can branch on it.
/// Messages never carry personal data, SQL or an underlying error's text.
public protocol PrivacyError: Error, RPCErrorConvertible, CustomStringConvertible {
  /// The ErrorInfo domain, for example `privacy.consent.v1`.
  static var errorDomain: String { get }
  var statusCode: StatusCode { get }
  var message: String { get }
  /// The ErrorInfo reason (UPPER_SNAKE), or nil when the status code says enough.
  var reason: String? { get }
  /// Extra ErrorInfo metadata (never personal data).
  var reasonMetadata: [String: String] { get }
}

extension PrivacyError {
  public var reason: String? { nil }
  public var reasonMetadata: [String: String] { [:] }
  public var description: String { message }

  public var rpcErrorCode: RPCError.Code { statusCode.rpcCode }
  public var rpcErrorMessage: String { message }
  public var rpcErrorMetadata: Metadata {
    guard let reason else { return [:] }
    let status = GoogleRPCStatus(
      code: statusCode.rpcCode,
      message: message,
      details: [.errorInfo(reason: reason, domain: Self.errorDomain, metadata: reasonMetadata)]
    )
    return status.rpcErrorMetadata
  }
}

/// Bad input: a missing, malformed or out-of-range request field. The message names the field.
public struct InvalidArgument: PrivacyError, Equatable {
  public static let errorDomain = "privacy.common.v1"
  public var message: String
  public var statusCode: StatusCode { .invalidArgument }

  public init(_ message: String) {
    self.message = message
  }
}

extension String {
  /// The string as an error message may quote it: at most 64 Unicode scalars, the rest cut and
  /// marked with "…". Messages quote ids the caller sent, never values of personal fields; a long
  /// id must not turn into a long message (a peer's header limit could drop the whole connection).
  /// Scalars, not characters: one character can hold any number of combining scalars.
  public var clipped: String {
    guard unicodeScalars.count > 64 else { return self }
    var result = String.UnicodeScalarView()
    result.append(contentsOf: unicodeScalars.prefix(64))
    return String(result) + "…"
  }
}

extension RPCError {
  /// The `google.rpc.ErrorInfo` reason the status details carry, if any: what a client branches on.
  public var errorInfoReason: String? {
    guard let status = try? unpackGoogleRPCStatus() else { return nil }
    return status.details.lazy.compactMap { $0.errorInfo?.reason }.first { !$0.isEmpty }
  }
}
