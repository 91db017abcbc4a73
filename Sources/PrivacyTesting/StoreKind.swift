public import PrivacyKit

/// The databases a store conformance suite runs on: SQLite always, PostgreSQL beside the test
/// cluster (`scripts/test` starts one).
public enum StoreKind: String, CaseIterable, Sendable {
  case sqlite, postgres

  public static var available: [StoreKind] { PostgresTestDatabase.isAvailable ? allCases : [.sqlite] }

  /// Runs `body` with the `DATABASE_URL` of a new, empty database of this kind, removed after.
  public func withDatabase<T: Sendable>(_ body: (DatabaseURL) async throws -> T) async throws -> T {
    switch self {
    case .sqlite:
      let directory = try TestDirectory()
      defer { directory.remove() }
      return try await body(.sqlite(path: directory.path("store.sqlite")))
    case .postgres:
      return try await PostgresTestDatabase.with { database in try await body(.postgres(try database.settings)) }
    }
  }
}
