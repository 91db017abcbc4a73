import Foundation
import PrivacyKit

/// The form a value takes before it is blind-indexed or searched: trimmed, Unicode NFKC,
/// case-folded (then NFKC again, since folding can produce non-normalized sequences).
public enum SearchNormalization {
  public static func normalize(_ value: String) -> String {
    let trimmed = value.trimmingWhitespace
    let folded = trimmed.precomposedStringWithCompatibilityMapping.folding(options: [.caseInsensitive], locale: nil)
    return folded.precomposedStringWithCompatibilityMapping
  }
}
