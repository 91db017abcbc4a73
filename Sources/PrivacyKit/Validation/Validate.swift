import Foundation

/// Request field checks shared by every service. Each returns the checked value or throws
/// `InvalidArgument` naming the field.
public enum Validate {
  /// A subject id: 1-128 characters of `A-Z a-z 0-9 . _ : -`. Ids are pseudonymous keys chosen by
  /// the caller; `@` is refused so an email address cannot be used as one (ids appear in logs).
  public static func subjectID(_ value: String, field: String = "subject_id") throws(InvalidArgument) -> String {
    guard !value.isEmpty else { throw InvalidArgument("\(field) is required") }
    guard value.utf8.count <= 128, value.utf8.allSatisfy(isSubjectIDByte) else {
      throw InvalidArgument("\(field) must be 1-128 characters of A-Z a-z 0-9 . _ : -")
    }
    return value
  }

  /// A batch request's list: 1 to `maximum` items, each checked by `check`. A wrong item is
  /// named by its index (`checks[3]: subject_id ...`), the name built only when it is wrong.
  @inlinable
  public static func batch<Item, Checked>(
    _ items: [Item], field: String, maximum: Int, _ check: (Item) throws(InvalidArgument) -> Checked
  ) throws(InvalidArgument) -> [Checked] {
    guard (1...maximum).contains(items.count) else {
      throw InvalidArgument("\(field) must hold 1 to \(maximum) items, got \(items.count)")
    }
    var checked: [Checked] = []
    checked.reserveCapacity(items.count)
    for (index, item) in items.enumerated() {
      do {
        checked.append(try check(item))
      } catch {
        throw InvalidArgument("\(field)[\(index)]: \(error.message)")
      }
    }
    return checked
  }

  /// A data-subject request id: required, at most 128 bytes; ids are opaque, so anything else
  /// is left to NOT_FOUND.
  public static func requestID(_ value: String, field: String = "request_id") throws(InvalidArgument) -> String {
    guard !value.isEmpty else { throw InvalidArgument("\(field) is required") }
    guard value.utf8.count <= 128 else { throw InvalidArgument("\(field) must be at most 128 characters") }
    return value
  }

  /// A slug such as a purpose or list id: 1-64 characters of `a-z 0-9 . _ -`, starting with a
  /// letter or digit.
  public static func slug(_ value: String, field: String) throws(InvalidArgument) -> String {
    guard !value.isEmpty else { throw InvalidArgument("\(field) is required") }
    let bytes = Array(value.utf8)
    guard bytes.count <= 64, isLowerAlphanumeric(bytes[0]), bytes.allSatisfy(isSlugByte) else {
      throw InvalidArgument("\(field) must be 1-64 characters of a-z 0-9 . _ - starting with a letter or digit")
    }
    return value
  }

  /// A field name: `[a-z][a-z0-9_]{0,62}`.
  public static func fieldName(_ value: String, field: String) throws(InvalidArgument) -> String {
    let bytes = Array(value.utf8)
    guard let first = bytes.first, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first), bytes.count <= 63,
      bytes.allSatisfy({ isLowerAlphanumeric($0) || $0 == UInt8(ascii: "_") })
    else {
      throw InvalidArgument("\(field) must match [a-z][a-z0-9_]{0,62}, got \"\(value.clipped)\"")
    }
    return value
  }

  /// Text that must be present, within `maxLength` characters, without control characters.
  public static func requiredText(_ value: String, field: String, maxLength: Int) throws(InvalidArgument) -> String {
    let trimmed = try optionalText(value, field: field, maxLength: maxLength)
    guard !trimmed.isEmpty else { throw InvalidArgument("\(field) is required") }
    return trimmed
  }

  /// Text that may be empty, within `maxLength` characters, without control characters other
  /// than tab and line breaks. NUL in particular: SQLite's C API reads text up to it, so a stored
  /// value would no longer match what was hashed into a chain.
  public static func optionalText(_ value: String, field: String, maxLength: Int) throws(InvalidArgument) -> String {
    let trimmed = value.trimmingWhitespace
    guard trimmed.count <= maxLength else { throw InvalidArgument("\(field) must be at most \(maxLength) characters") }
    guard !trimmed.unicodeScalars.contains(where: \.isDisallowedControl) else {
      throw InvalidArgument("\(field) must not contain control characters")
    }
    return trimmed
  }

  /// The ids an AckOutbox names: 1-1,000 of them, each 1-64 characters of `A-Z a-z 0-9 -` (ids
  /// are UUIDs).
  public static func messageIDs(_ ids: [String], field: String = "message_ids") throws(InvalidArgument) -> [String] {
    guard !ids.isEmpty else { throw InvalidArgument("\(field) is required") }
    guard ids.count <= 1000 else { throw InvalidArgument("\(field) holds more than 1,000 ids") }
    for (index, id) in ids.enumerated() {
      guard (1...64).contains(id.utf8.count), id.utf8.allSatisfy({ isAlphanumeric($0) || $0 == UInt8(ascii: "-") }) else {
        throw InvalidArgument("\(field)[\(index)] must be 1-64 characters of A-Z a-z 0-9 -")
      }
    }
    return ids
  }

  /// A sequence number from the wire. Ledgers store them as 64-bit signed integers, so a value
  /// above 2^63-1 names nothing and must not reach a conversion that would trap.
  public static func sequence(_ value: UInt64, field: String) throws(InvalidArgument) -> UInt64 {
    guard value <= UInt64(Int64.max) else { throw InvalidArgument("\(field) must be at most \(Int64.max)") }
    return value
  }

  /// A reason for an action: 1-500 characters.
  public static func reason(_ value: String, field: String = "reason") throws(InvalidArgument) -> String {
    try requiredText(value, field: field, maxLength: 500)
  }

  /// An email address: trimmed, at most 254 characters, one `@`, a non-empty local part and a
  /// dotted domain without spaces.
  public static func emailAddress(_ value: String, field: String) throws(InvalidArgument) -> String {
    let trimmed = value.trimmingWhitespace
    guard !trimmed.isEmpty else { throw InvalidArgument("\(field) is required") }
    guard EmailAddress.isWellFormed(trimmed) else { throw InvalidArgument("\(field) is not a valid email address") }
    return trimmed
  }

  /// A preference-page link for a mail's footer: empty, or an http(s) URL of at most 2,048
  /// characters without spaces or control characters.
  public static func preferenceURL(_ value: String, field: String = "preference_url") throws(InvalidArgument) -> String {
    guard !value.isEmpty else { return "" }
    guard value.utf8.count <= 2048, value.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }), let url = URL(string: value),
      ["http", "https"].contains(url.scheme), url.host != nil
    else { throw InvalidArgument("\(field) must be an http or https URL of at most 2,048 characters") }
    return value
  }

  /// An endpoint a notice is POSTed to: empty, or an https URL of at most 2,048 printable ASCII
  /// characters with a host.
  public static func webhookURL(_ value: String, field: String) throws(InvalidArgument) -> String {
    guard !value.isEmpty else { return "" }
    guard value.utf8.count <= 2048, value.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }), let url = URL(string: value),
      url.scheme == "https", url.host?.isEmpty == false, url.user == nil
    else { throw InvalidArgument("\(field) must be an https URL of at most 2,048 characters, without a user") }
    return value
  }

  /// A country as ISO 3166-1 alpha-2: two upper-case letters (`IT`, `US`).
  public static func countryCode(_ value: String, field: String) throws(InvalidArgument) -> String {
    guard value.utf8.count == 2, value.utf8.allSatisfy({ (65...90).contains($0) }) else {
      throw InvalidArgument("\(field) must be an ISO 3166-1 alpha-2 code such as IT")
    }
    return value
  }

  /// An optional IPv4 or IPv6 address.
  public static func ipAddress(_ value: String, field: String) throws(InvalidArgument) -> String {
    let trimmed = value.trimmingWhitespace
    guard trimmed.isEmpty || IPAddress.isValid(trimmed) else {
      throw InvalidArgument("\(field) must be an IPv4 or IPv6 address")
    }
    return trimmed
  }

  private static func isLowerAlphanumeric(_ byte: UInt8) -> Bool {
    (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
  }

  private static func isSlugByte(_ byte: UInt8) -> Bool {
    isLowerAlphanumeric(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
  }

  static func isAlphanumeric(_ byte: UInt8) -> Bool {
    isLowerAlphanumeric(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
  }

  private static func isSubjectIDByte(_ byte: UInt8) -> Bool {
    isAlphanumeric(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ":")
      || byte == UInt8(ascii: "-")
  }
}

/// Email address shape checks (not deliverability).
public enum EmailAddress {
  public static func isWellFormed(_ text: String) -> Bool {
    guard text.utf8.count <= 254, !text.contains(where: \.isWhitespace) else { return false }
    let parts = text.split(separator: "@", omittingEmptySubsequences: false)
    guard parts.count == 2, !parts[0].isEmpty, parts[0].utf8.count <= 64 else { return false }
    let labels = parts[1].split(separator: ".", omittingEmptySubsequences: false)
    return labels.count >= 2 && labels.allSatisfy { !$0.isEmpty }
  }
}

extension Unicode.Scalar {
  /// A C0 or C1 control character or DEL, other than tab, line feed and carriage return.
  var isDisallowedControl: Bool {
    (value < 0x20 && ![0x09, 0x0A, 0x0D].contains(value)) || (0x7F...0x9F).contains(value)
  }
}

extension String {
  /// The string with every control character that `Validate` refuses replaced by U+FFFD: for
  /// records that keep what a caller sent even when it was refused (the gateway's audit log),
  /// so the stored text is the hashed text.
  public var withoutControlCharacters: String {
    guard unicodeScalars.contains(where: \.isDisallowedControl) else { return self }
    var result = String.UnicodeScalarView()
    for scalar in unicodeScalars { result.append(scalar.isDisallowedControl ? "\u{FFFD}" : scalar) }
    return String(result)
  }

  /// The string without leading and trailing spaces, tabs and newlines.
  public var trimmingWhitespace: String {
    var scalars = Substring(self)
    while let first = scalars.first, first.isWhitespace { scalars.removeFirst() }
    while let last = scalars.last, last.isWhitespace { scalars.removeLast() }
    return String(scalars)
  }
}
