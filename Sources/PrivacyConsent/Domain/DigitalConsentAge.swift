public import Foundation

/// The age of digital consent (GDPR art 8(1)) in each EU/EEA state: below it, consent to an
/// information society service needs the holder of parental responsibility. The regulation
/// sets 16 and lets states lower it to 13. Source: each state's GDPR implementing law, as
/// collected by the European Commission's Better Internet for Kids mapping of the age of
/// digital consent (2023).
public enum DigitalConsentAge {
  /// The regulation's age when a state sets none.
  public static let regulationDefault = 16

  /// ISO 3166-1 alpha-2 -> age.
  public static let byCountry: [String: Int] = [
    "AT": 14, "BE": 13, "BG": 14, "HR": 16, "CY": 14, "CZ": 15, "DK": 13, "EE": 13, "FI": 13, "FR": 15, "DE": 16, "GR": 15,
    "HU": 16, "IE": 16, "IT": 14, "LV": 13, "LT": 14, "LU": 16, "MT": 13, "NL": 16, "PL": 16, "PT": 13, "RO": 16, "SK": 16,
    "SI": 15, "ES": 14, "SE": 13,
    // EEA
    "IS": 13, "LI": 16, "NO": 13,
  ]

  /// The age of digital consent in `country`; the regulation's 16 for a country not listed.
  public static func age(in country: String) -> Int { byCountry[country] ?? regulationDefault }

  /// Whole years between a birth date and `date` (a birthday counts from its day).
  public static func years(bornOn birth: DateComponents, at date: Date) -> Int? {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = TimeZone(identifier: "UTC")!
    guard let born = calendar.date(from: birth), born <= date else { return nil }
    return calendar.dateComponents([.year], from: born, to: date).year
  }

  /// CHILD below the country's age at `date`, ADULT at or above it.
  public static func status(bornOn birth: DateComponents, country: String, at date: Date) -> SubjectAge? {
    guard let years = years(bornOn: birth, at: date) else { return nil }
    return years < age(in: country) ? .child : .adult
  }
}
