public import Logging
import Synchronization

/// Keeps what a logger was told, for tests that check what is (and is not) logged.
public final class LogRecorder: Sendable {
  /// One log call: its level, message and metadata rendered as `key=value`.
  public struct Entry: Sendable {
    public let level: Logger.Level
    public let message: String
    public let metadata: [String: String]
  }

  private let entries = Mutex<[Entry]>([])

  public init() {}

  /// A logger whose every call at `level` or above is kept here.
  public func logger(level: Logger.Level = .trace) -> Logger {
    var logger = Logger(label: "privacy.test.recorded") { _ in Handler(recorder: self) }
    logger.logLevel = level
    return logger
  }

  public var all: [Entry] { entries.withLock { $0 } }

  fileprivate func record(_ entry: Entry) { entries.withLock { $0.append(entry) } }

  private struct Handler: LogHandler {
    let recorder: LogRecorder
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
      get { metadata[key] }
      set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
      let merged = metadata.merging(event.metadata ?? [:]) { $1 }
      recorder.record(Entry(level: event.level, message: "\(event.message)", metadata: merged.mapValues { "\($0)" }))
    }
  }
}
