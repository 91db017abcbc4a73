/// gRPC's `grpc-timeout` grammar (PROTOCOL-HTTP2.md): `TimeoutValue TimeoutUnit`, where the value
/// is 1 to 8 ASCII digits and the unit one of `H M S m u n`.
public enum GRPCTimeout {
  public static func isWellFormed(_ text: String) -> Bool {
    duration(text) != nil
  }

  /// The timeout as a duration, or nil when `text` breaks the grammar.
  public static func duration(_ text: String) -> Duration? {
    let bytes = Array(text.utf8)
    guard (2...9).contains(bytes.count), let unit = bytes.last else { return nil }
    var amount: Int64 = 0
    for byte in bytes.dropLast() {
      guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
      amount = amount * 10 + Int64(byte - UInt8(ascii: "0"))
    }
    switch unit {
    case UInt8(ascii: "H"): return .seconds(amount * 3600)
    case UInt8(ascii: "M"): return .seconds(amount * 60)
    case UInt8(ascii: "S"): return .seconds(amount)
    case UInt8(ascii: "m"): return .milliseconds(amount)
    case UInt8(ascii: "u"): return .microseconds(amount)
    case UInt8(ascii: "n"): return .nanoseconds(amount)
    default: return nil
    }
  }
}
