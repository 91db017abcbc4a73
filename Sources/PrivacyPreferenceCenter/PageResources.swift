import Foundation
import Mustache

/// The page's package resources: templates, string catalogues and the stylesheet, read once at
/// start. Found next to the executable by hand, like the gateway's shipped policy: `Bundle.module`
/// stops the process when the bundle is missing, and a missing bundle must be a start-up message.
struct PageResources: Sendable {
  let templates: MustacheLibrary
  let catalogue: Catalogue
  let stylesheet: String

  static let bundleName = "privacy-suite_PrivacyPreferenceCenter.resources"

  static func load() async throws -> PageResources {
    let directories = [Bundle.main.bundleURL, Bundle.main.executableURL?.deletingLastPathComponent()].compactMap { $0 }
    guard let root = directories.map({ $0.appendingPathComponent(bundleName).appendingPathComponent("Resources") })
      .first(where: { FileManager.default.fileExists(atPath: $0.appendingPathComponent("templates").path) })
    else {
      throw ResourcesMissing(bundle: bundleName)
    }
    return PageResources(
      templates: try await MustacheLibrary(directory: root.appendingPathComponent("templates").path),
      catalogue: try Catalogue(directory: root.appendingPathComponent("strings")),
      stylesheet: try String(contentsOf: root.appendingPathComponent("static/style.css"), encoding: .utf8))
  }
}

/// The resource bundle is not next to the executable (an installation that copied the binary
/// alone).
struct ResourcesMissing: Error, CustomStringConvertible {
  let bundle: String
  var description: String { "the page's templates are missing: copy \(bundle) next to the executable" }
}
