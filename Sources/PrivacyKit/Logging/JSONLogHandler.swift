public import Logging
import Foundation
import Synchronization

/// Writes one JSON object per line to standard error: time, level, label, message and metadata.
/// Standard output stays free for the `listening on HOST:PORT` line. Callers must never put
/// personal data in messages or metadata; subject ids are pseudonymous and allowed.
public struct JSONLogHandler: LogHandler {
  public var metadata: Logger.Metadata = [:]
  public var logLevel: Logger.Level
  private let label: String

  private static let output = Mutex(FileHandle.standardError)

  public init(label: String, level: Logger.Level) {
    self.label = label
    self.logLevel = level
  }

  public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
    get { metadata[key] }
    set { metadata[key] = newValue }
  }

  public func log(event: LogEvent) {
    var object: [String: Any] = [
      "time": ISO8601DateFormatter.string(from: Date(), timeZone: .gmt, formatOptions: [.withInternetDateTime, .withFractionalSeconds]),
      "level": event.level.rawValue,
      "label": label,
      "message": event.message.description,
    ]
    var merged = self.metadata
    if let extra = event.metadata { merged.merge(extra) { _, new in new } }
    for (key, value) in merged { object[key] = value.description }
    guard var line = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
    line.append(0x0A)
    Self.output.withLock { $0.write(line) }
  }

  /// Installs the handler for the whole process.
  public static func bootstrap(level: Logger.Level) {
    LoggingSystem.bootstrap { label in JSONLogHandler(label: label, level: level) }
  }
}
