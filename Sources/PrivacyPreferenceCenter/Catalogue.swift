import Foundation

/// The page's strings per language (`Resources/strings/<code>.json`), each language completed
/// with the English text where it lacks a string.
struct Catalogue: Sendable {
  /// The languages the page speaks; the first is the fallback.
  static let languages = ["en", "it"]

  private let texts: [String: [String: String]]

  init(directory: URL) throws {
    var texts: [String: [String: String]] = [:]
    for language in Self.languages {
      let data = try Data(contentsOf: directory.appendingPathComponent("\(language).json"))
      texts[language] = try JSONDecoder().decode([String: String].self, from: data)
    }
    let english = texts["en"] ?? [:]
    for language in Self.languages { texts[language] = english.merging(texts[language] ?? [:]) { _, own in own } }
    self.texts = texts
  }

  func texts(_ language: String) -> [String: String] { texts[language] ?? texts["en"] ?? [:] }

  /// The language of a request: `lang` from the query when the page speaks it (the visible
  /// switch), else the best of `Accept-Language` the page speaks, else English.
  static func language(query: String?, acceptLanguage: String?) -> String {
    if let query, languages.contains(query) { return query }
    var best: (language: String, quality: Double)?
    for item in (acceptLanguage ?? "").split(separator: ",").prefix(20) {
      let parts = item.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
      guard let tag = parts.first, let primary = tag.split(separator: "-").first?.lowercased(), languages.contains(primary) else { continue }
      let quality = parts.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
      guard quality > 0, quality > (best?.quality ?? 0) else { continue }
      best = (primary, quality)
    }
    return best?.language ?? languages[0]
  }
}
