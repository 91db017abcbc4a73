import Foundation
import Mustache
import PrivacyKit

/// The HTML alternative of a mail, from its plain text through one template: paragraphs, links
/// made clickable, the signature block (after `-- `) dropped for a footer linking the person's
/// preference page. Every value is HTML-escaped by the template.
enum MailBody {
  static func html(text: String, subject: String, preferenceURL: String, language: MailLanguage) -> String {
    let body = text.components(separatedBy: "\n-- \n").first ?? text
    let paragraphs = body.replacingOccurrences(of: "\r\n", with: "\n").components(separatedBy: "\n\n")
      .map { $0.trimmingCharacters(in: .newlines) }.filter { !$0.isEmpty }
      .map { paragraph in ["lines": paragraph.components(separatedBy: "\n").enumerated().map { index, text in line(text, first: index == 0) }] }
    let context: [String: Any] = [
      "language": language.rawValue, "subject": subject, "paragraphs": paragraphs, "preferenceURL": preferenceURL,
      "hasPreferenceURL": !preferenceURL.isEmpty, "preferencesLabel": language.preferencesLabel,
    ]
    return template.render(context)
  }

  /// One line: its words, each a link when it is an http(s) URL.
  private static func line(_ text: String, first: Bool) -> [String: Any] {
    let pieces = text.split(separator: " ", omittingEmptySubsequences: false).enumerated().map { index, word -> [String: Any] in
      let isLink = word.hasPrefix("https://") || word.hasPrefix("http://")
      return ["text": String(word), "link": isLink, "space": index > 0]
    }
    return ["pieces": pieces, "break": !first]
  }

  private static let template: MustacheTemplate = {
    // A constant the tests render: a failure here is a programming error.
    try! MustacheTemplate(string: """
      <!DOCTYPE html>
      <html lang="{{language}}">
      <head><meta charset="utf-8"><title>{{subject}}</title></head>
      <body style="font-family: sans-serif; line-height: 1.5; max-width: 40em">
      {{#paragraphs}}
      <p>{{#lines}}{{#break}}<br>{{/break}}{{#pieces}}{{#space}} {{/space}}{{#link}}<a href="{{text}}">{{text}}</a>{{/link}}{{^link}}{{text}}{{/link}}{{/pieces}}{{/lines}}</p>
      {{/paragraphs}}
      {{#hasPreferenceURL}}
      <hr>
      <p style="font-size: small"><a href="{{preferenceURL}}">{{preferencesLabel}}</a></p>
      {{/hasPreferenceURL}}
      </body>
      </html>

      """)
  }()
}
