/// The languages the suite writes its mail in, the preference center's: English (the default)
/// and Italian.
public enum MailLanguage: String, Sendable, CaseIterable, Codable {
  case en
  case it

  /// The language of a tag (`it`, `it-CH`, `IT`): its first part when the suite writes in it,
  /// else English.
  public init(tag: String) {
    let primary = tag.split(separator: "-").first.map { $0.lowercased() } ?? ""
    self = MailLanguage(rawValue: primary) ?? .en
  }

  /// The footer's link to the person's preference page.
  public var preferencesLabel: String {
    switch self {
    case .en: "Your privacy preferences"
    case .it: "Le tue preferenze sulla privacy"
    }
  }

  /// The footer of a mail: the signature separator (`-- `), then the link to the preference page.
  public func footer(_ preferenceURL: String) -> String {
    "\n\n-- \n\(preferencesLabel): \(preferenceURL)"
  }

  /// A tag from the wire, checked: empty, or up to 35 characters of letters, digits and `-`
  /// (BCP 47's alphabet). A language the suite does not write is English, not an error.
  public static func parse(_ tag: String, field: String = "language") throws(InvalidArgument) -> MailLanguage {
    guard tag.utf8.count <= 35, tag.utf8.allSatisfy({ Validate.isAlphanumeric($0) || $0 == UInt8(ascii: "-") }) else {
      throw InvalidArgument("\(field) must be a language tag such as en or it-CH")
    }
    return MailLanguage(tag: tag)
  }
}
