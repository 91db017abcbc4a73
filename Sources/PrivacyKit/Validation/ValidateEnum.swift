public import SwiftProtobuf

extension Validate {
  /// Refuses an enum number this version does not know, naming it ("unknown value 9 for
  /// decision"), so a client built from a newer contract learns what was not understood instead of
  /// reading that the field is missing.
  public static func knownEnum<P: SwiftProtobuf.Enum & CaseIterable>(_ proto: P, field: String) throws(InvalidArgument) {
    guard P.allCases.contains(proto) else { throw InvalidArgument("unknown value \(proto.rawValue) for \(field)") }
  }

  /// A required enum field as its domain value: unset is "`field` is required", an unknown number
  /// is named as `knownEnum` does. `convert` maps the proto value (nil for `*_UNSPECIFIED`).
  public static func requiredEnum<P: SwiftProtobuf.Enum & CaseIterable, D>(
    _ proto: P, field: String, _ convert: (P) -> D?
  ) throws(InvalidArgument) -> D {
    try knownEnum(proto, field: field)
    guard let value = convert(proto) else { throw InvalidArgument("\(field) is required") }
    return value
  }
}
