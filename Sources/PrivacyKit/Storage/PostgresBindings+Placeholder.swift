public import PostgresNIO

extension PostgresBindings {
  /// Binds `value` and returns its placeholder (`$1`, `$2`, ...), for a query whose conditions
  /// depend on which filters a caller set.
  public mutating func placeholder(for value: some PostgresDynamicTypeEncodable) -> String {
    append(value)
    return "$\(count)"
  }
}
