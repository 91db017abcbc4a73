import Foundation

/// AIP-158 paging: `page_size` (default 50, at most 1,000) and an opaque `page_token` that encodes
/// where the previous page stopped. Tokens are base64url of `<scope>|<cursor>`; the scope ties a
/// token to the listing (and filters) that issued it, so it cannot be replayed elsewhere.
public struct PageRequest: Sendable, Equatable {
  public static let defaultSize = 50
  public static let maximumSize = 1000

  /// How many items to return.
  public var size: Int
  /// Where the previous page stopped; nil for the first page.
  public var cursor: String?
  /// The listing (and filters) the tokens belong to.
  public var scope: String

  /// How many items to fetch: one more than the page holds, which tells whether a next page exists.
  public var fetchLimit: Int { size + 1 }

  public init(size: Int32, token: String, scope: String) throws(InvalidArgument) {
    guard size >= 0 else { throw InvalidArgument("page_size must not be negative") }
    self.size = size == 0 ? Self.defaultSize : min(Int(size), Self.maximumSize)
    self.scope = scope
    if token.isEmpty {
      self.cursor = nil
    } else {
      guard let decoded = Self.decode(token), decoded.hasPrefix(scope + "|") else {
        throw InvalidArgument("page_token is not valid for this request")
      }
      self.cursor = String(decoded.dropFirst(scope.count + 1))
    }
  }

  /// The cursor as a number (sequence or position), or nil on the first page. Cursors are stored
  /// positions, so within 0...Int64.max whatever `T` is: a forged token cannot reach a conversion
  /// that traps.
  public func numericCursor<T: FixedWidthInteger>(_ type: T.Type = T.self) throws(InvalidArgument) -> T? {
    guard let cursor else { return nil }
    guard let value = Int64(cursor), value >= 0, let converted = T(exactly: value) else {
      throw InvalidArgument("page_token is not valid for this request")
    }
    return converted
  }

  /// The page of items fetched with `fetchLimit`, and the token of the next page ("" on the last),
  /// made from the last item's `cursor`.
  public func page<Item>(of fetched: [Item], cursor: (Item) -> String) -> (items: ArraySlice<Item>, nextPageToken: String) {
    let items = fetched.prefix(size)
    guard fetched.count > size, let last = items.last else { return (items, "") }
    return (items, Self.token(cursor: cursor(last), scope: scope))
  }

  /// The token for the page after `cursor`.
  public static func token(cursor: String, scope: String) -> String {
    Data((scope + "|" + cursor).utf8).base64URLEncoded
  }

  private static func decode(_ token: String) -> String? {
    Data(base64URLEncoded: token).flatMap { String(data: $0, encoding: .utf8) }
  }
}
