/// Where a service keeps its data: `sqlite://./relative/path`, `sqlite:///absolute/path` or
/// `postgres://user:pass@host:port/db` (with the settings beside it, see `PostgresSettings`).
public enum DatabaseURL: Sendable, Equatable {
  case sqlite(path: String)
  case postgres(PostgresSettings)

  public init(parsing text: String, environment: EnvironmentReader, variable: String = "DATABASE_URL") throws(ConfigurationError) {
    if text.hasPrefix("sqlite://") {
      let path = String(text.dropFirst("sqlite://".count))
      guard !path.isEmpty, path != "/" else {
        throw .malformed(variable, "must name a file: sqlite:///absolute/path or sqlite://./relative/path")
      }
      self = .sqlite(path: path)
    } else if text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") {
      self = .postgres(try PostgresSettings(url: text, environment: environment))
    } else {
      throw .malformed(variable, "must start with sqlite:// or postgres://")
    }
  }
}
