import ArgumentParser
import Foundation
import PrivacyProtocol
import SwiftProtobuf

/// A proto enum taken as a command-line value by its `.proto` name without the type prefix, in
/// any case, with `-` or `_` between words: `legitimate-interests`, `LEGITIMATE_INTERESTS`.
/// The unspecified value is not accepted: leaving the flag out means that.
///
/// ArgumentParser's defaults for `RawRepresentable` types are more specific than this protocol's,
/// so each conformance states it has no per-value descriptions (else help lists the values with
/// empty ones). ArgumentParser also shows the raw number as the default of such an option, so
/// options of these types have no default value: they are optional and name their default in
/// their help.
protocol ProtoEnumArgument: ExpressibleByArgument, SwiftProtobuf.Enum, CaseIterable {}

extension ProtoEnumArgument {
  init?(argument: String) {
    let wanted = Self.normalized(argument)
    guard let match = Self.choices.first(where: { Self.normalized(Format.name($0)) == wanted }) else { return nil }
    self = match
  }

  static var allValueStrings: [String] { choices.map(\.argumentName) }

  /// The spelling shown in help: `legitimate-interests`.
  var argumentName: String { Format.name(self).lowercased().replacingOccurrences(of: "_", with: "-") }

  private static var choices: [Self] { allCases.filter { $0.rawValue != 0 } }

  private static func normalized(_ text: String) -> String {
    text.lowercased().filter { $0 != "-" && $0 != "_" }
  }
}

extension Privacy_Consent_V1_LegalBasis: ProtoEnumArgument {
  static var allValueDescriptions: [String: String] { [:] }
}
extension Privacy_Consent_V1_PurposeCategory: ProtoEnumArgument {
  static var allValueDescriptions: [String: String] { [:] }
}
extension Privacy_Consent_V1_Decision: ProtoEnumArgument {
  static var allValueDescriptions: [String: String] { [:] }
}
extension Privacy_Consent_V1_OptInStatus: ProtoEnumArgument {
  static var allValueDescriptions: [String: String] { [:] }
}
extension Privacy_Consent_V1_OptInSetter: ProtoEnumArgument {
  static var allValueDescriptions: [String: String] { [:] }
}
extension Privacy_Consent_V1_EligibilityPolicy: ProtoEnumArgument {
  static var allValueDescriptions: [String: String] { [:] }
}
extension Privacy_Consent_V1_MessageKind: ProtoEnumArgument {
  static var allValueDescriptions: [String: String] { [:] }
}
extension Privacy_Common_V1_Channel: ProtoEnumArgument {
  static var allValueDescriptions: [String: String] { [:] }
}
extension Privacy_Blocklist_V1_IdentifierKind: ProtoEnumArgument {
  static var allValueDescriptions: [String: String] { [:] }
}
extension Privacy_Vault_V1_Classification: ProtoEnumArgument {
  static var allValueDescriptions: [String: String] { [:] }
}
extension Privacy_Vault_V1_SpecialCategory: ProtoEnumArgument {
  static var allValueDescriptions: [String: String] { [:] }
}
extension Privacy_Vault_V1_Mask: ProtoEnumArgument {
  static var allValueDescriptions: [String: String] { [:] }
}
extension Privacy_Rights_V1_Right: ProtoEnumArgument {
  static var allValueDescriptions: [String: String] { [:] }
}
extension Privacy_Rights_V1_RequestStatus: ProtoEnumArgument {
  static var allValueDescriptions: [String: String] { [:] }
}
extension Privacy_Rights_V1_RejectionGrounds: ProtoEnumArgument {
  static var allValueDescriptions: [String: String] { [:] }
}

/// `name=value`, as in `--value email=ada@example.org`; the value may contain `=`.
struct KeyValue: ExpressibleByArgument {
  var key: String
  var value: String

  init?(argument: String) {
    guard let equals = argument.firstIndex(of: "="), equals != argument.startIndex else { return nil }
    key = String(argument[..<equals])
    value = String(argument[argument.index(after: equals)...])
  }

  var defaultValueDescription: String { "name=value" }
}

extension Array where Element == KeyValue {
  /// The pairs as a map; a name given twice is a usage error.
  func dictionary(flag: String) throws -> [String: String] {
    var result: [String: String] = [:]
    for pair in self {
      guard result.updateValue(pair.value, forKey: pair.key) == nil else {
        throw ValidationError("\(flag) \(pair.key)=… given twice")
      }
    }
    return result
  }
}

/// An instant as RFC 3339 (`2026-01-31T12:00:00Z`) or a date (`2026-01-31`, midnight UTC).
struct Instant: ExpressibleByArgument {
  var timestamp: Google_Protobuf_Timestamp

  init?(argument: String) {
    if let date = try? Date(argument, strategy: .iso8601) {
      timestamp = Google_Protobuf_Timestamp(date: date)
    } else if let date = try? Date(argument, strategy: Date.ISO8601FormatStyle().year().month().day()) {
      timestamp = Google_Protobuf_Timestamp(date: date)
    } else {
      return nil
    }
  }

  var defaultValueDescription: String { "RFC 3339 time or YYYY-MM-DD" }
}

/// Paging flags of list commands (AIP-158).
struct PageOptions: ParsableArguments {
  @Option(help: "Maximum entries to return (0: the server's default).")
  var pageSize: Int32 = 0

  /// Unconditional: a base64url page token may begin with `-`.
  @Option(parsing: .unconditional, help: "Token of the page to return, from a previous listing's `next page`.")
  var pageToken: String = ""
}

/// How a decision or value reached us: the evidence of a consent-service write, the source of a
/// vault write.
struct SourceOptions: ParsableArguments {
  @Option(help: "Channel the data or decision came through (default: manual).")
  var channel: Privacy_Common_V1_Channel?

  @Option(help: "Name of the form it was captured with, if any.")
  var formName: String = ""

  @Option(help: "When it was captured, if not now (e.g. a consent given on paper last week).")
  var capturedAt: Instant?

  /// The consent service's evidence; `noticeVersion` is the notice the person was shown.
  func evidence(noticeVersion: String = "") -> Privacy_Consent_V1_Evidence {
    .with {
      $0.channel = channel ?? .manual
      $0.formName = formName
      $0.noticeVersion = noticeVersion
      if let capturedAt { $0.capturedAt = capturedAt.timestamp }
    }
  }

  var valueSource: Privacy_Vault_V1_ValueSource {
    .with {
      $0.channel = channel ?? .manual
      $0.formName = formName
      if let capturedAt { $0.capturedAt = capturedAt.timestamp }
    }
  }
}
