/// How the EU/EEA countries (and those sharing their numbering) write national phone numbers:
/// the trunk prefix dialled before a national number, which the E.164 form drops, or none where
/// every digit belongs to the number. Italy, San Marino and the Vatican have none although
/// their landlines start with 0: that 0 is part of the number (+39 06 ..., +378 0549 ...).
/// Source: each country's national numbering plan as notified to the ITU (ITU-T E.164
/// assigned country codes and national numbering plans). A code not listed is taken to use 0.
public enum PhoneNumbering {
  /// Country calling code -> trunk prefix (empty: none).
  public static let trunkPrefixes: [String: String] = [
    "30": "",  // Greece
    "31": "0",  // Netherlands
    "32": "0",  // Belgium
    "33": "0",  // France
    "34": "",  // Spain
    "36": "06",  // Hungary
    "39": "",  // Italy and the Vatican: the leading 0 of a landline is part of the number
    "40": "0",  // Romania
    "41": "0",  // Switzerland
    "43": "0",  // Austria
    "44": "0",  // United Kingdom
    "45": "",  // Denmark
    "46": "0",  // Sweden
    "47": "",  // Norway
    "48": "",  // Poland
    "49": "0",  // Germany
    "351": "",  // Portugal
    "352": "",  // Luxembourg
    "353": "0",  // Ireland
    "354": "",  // Iceland
    "356": "",  // Malta
    "357": "",  // Cyprus
    "358": "0",  // Finland
    "359": "0",  // Bulgaria
    "371": "",  // Latvia
    "372": "",  // Estonia
    "378": "",  // San Marino: 0549 is part of the number
    "379": "",  // Vatican City (reserved; it is dialled through +39 06 698)
    "385": "0",  // Croatia
    "386": "0",  // Slovenia
    "420": "",  // Czechia
    "421": "0",  // Slovakia
    "423": "",  // Liechtenstein
  ]

  /// The trunk prefix of a country calling code; `0` when the table does not list it.
  public static func trunkPrefix(countryCode: String) -> String { trunkPrefixes[countryCode] ?? "0" }

  /// The country calling code an international number (digits after `+`) starts with, when the
  /// table knows it: codes are prefix-free, so at most one matches.
  static func countryCode(of digits: Substring) -> String? {
    (1...3).lazy.map { String(digits.prefix($0)) }.first { trunkPrefixes[$0] != nil }
  }
}
