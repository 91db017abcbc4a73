import PrivacyBlocklist
import Testing

@Suite("Identifier normalization")
struct NormalizerTests {
  let normalizer = Normalizer(defaultCountryCode: "49")

  private func value(_ text: String, _ kind: IdentifierKind, _ normalizer: Normalizer? = nil) throws -> String {
    try (normalizer ?? self.normalizer).normalize(text, kind: kind).value
  }

  private func problem(_ text: String, _ kind: IdentifierKind, _ normalizer: Normalizer? = nil) -> String? {
    do {
      _ = try (normalizer ?? self.normalizer).normalize(text, kind: kind)
      return nil
    } catch {
      return error.problem
    }
  }

  @Test("emails are trimmed and lower-cased as a whole; dots and +tags stay")
  func email() throws {
    #expect(try value("  Anna.Schmidt+News@Example.COM \n", .email) == "anna.schmidt+news@example.com")
    #expect(try value("o'brien@sub.example.co.uk", .email) == "o'brien@sub.example.co.uk")
    #expect(problem("anna.example.com", .email) == "email has no '@'")
    #expect(problem("a@b@example.com", .email) == "email has more than one '@'")
    #expect(problem("@example.com", .email) == "email has an empty local part")
    #expect(problem("anna@example", .email) == "email domain has no dot")
    #expect(problem("anna@example..com", .email) == "email domain has an empty label")
    #expect(problem("anna @example.com", .email) != nil)
    #expect(problem("   ", .email) == "email is empty")
  }

  @Test("phones become E.164 whichever way they are written")
  func phone() throws {
    for written in ["+49 30 1234567", "0049 30 1234567", "030 1234567", "(030) 123-45-67", "+49 (0)30 1234567", "030.123.4567"] {
      #expect(try value(written, .phone) == "+49301234567", "\(written)")
    }
    #expect(try value("+1 (415) 555-0100", .phone) == "+14155550100")
    let noDefault = Normalizer(defaultCountryCode: nil)
    #expect(try value("+44 20 7946 0958", .phone, noDefault) == "+442079460958")
    #expect(problem("030 1234567", .phone, noDefault)?.contains("BLOCKLIST_DEFAULT_COUNTRY_CODE") == true)
    #expect(problem("+49 30 12ab567", .phone) == "phone contains characters other than digits")
    #expect(problem("+49 12", .phone) == "phone is not a valid E.164 number (+ and 7-15 digits)")
    #expect(problem("+49 1234 5678 9012 3456", .phone) != nil)
    #expect(problem("", .phone) == "phone is empty")
  }

  @Test("a leading 0 that is part of the number stays: Italy, San Marino, the Vatican")
  func italianNumbers() throws {
    let italy = Normalizer(defaultCountryCode: "39")
    for written in ["06 6982 1234", "+39 06 6982 1234", "0039 06 69821234", "+39 (0)6 6982 1234"] {
      #expect(try value(written, .phone, italy) == "+390669821234", "\(written)")
    }
    #expect(try value("333 123 4567", .phone, italy) == "+393331234567")
    #expect(try value("0549 882 123", .phone, Normalizer(defaultCountryCode: "378")) == "+3780549882123")
    #expect(try value("+378 0549 882123", .phone) == "+3780549882123")
    // Hungary's trunk prefix is 06.
    #expect(try value("06 1 234 5678", .phone, Normalizer(defaultCountryCode: "36")) == "+3612345678")
  }

  @Test("every country of the numbering table: its trunk prefix goes, the rest of the number stays", arguments: PhoneNumbering.trunkPrefixes.sorted { $0.key < $1.key })
  func numberingTable(_ country: (key: String, value: String)) throws {
    let normalizer = Normalizer(defaultCountryCode: country.key)
    #expect(try value(country.value + "21234567", .phone, normalizer) == "+\(country.key)21234567")
    #expect(try value("+\(country.key) \(country.value)21234567", .phone) == "+\(country.key)\(country.value)21234567")
    let marker = try value("+\(country.key) (0)21234567", .phone)
    #expect(marker == (country.value.isEmpty ? "+\(country.key)021234567" : "+\(country.key)21234567"))
  }

  @Test("national ids are upper-cased without spaces and dashes; custom ids are only trimmed")
  func nationalAndCustom() throws {
    #expect(try value(" l01x-00t 47 ", .nationalID) == "L01X00T47")
    #expect(problem(" - ", .nationalID) == "national id is empty")
    #expect(try value("  shop:Cust-0042 ", .custom) == "shop:Cust-0042")
    #expect(problem("   ", .custom) == "custom identifier is empty")
  }

  @Test("values over 512 characters are refused before normalization")
  func tooLong() {
    #expect(problem(String(repeating: "a", count: 513), .custom) != nil)
    #expect(problem(String(repeating: "a", count: 512), .custom) == nil)
  }

  @Test("the same text of different kinds hashes differently")
  func kindsDoNotCollide() throws {
    let email = try normalizer.normalize("x1@example.com", kind: .email)
    let custom = try normalizer.normalize("x1@example.com", kind: .custom)
    #expect(email.value == custom.value)
    #expect(email.hashInput != custom.hashInput)
  }
}
