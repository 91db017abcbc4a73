/// What one server's connections allow, and the timers that keep them tidy.
public struct WireLimits: Sendable {
  /// Largest request message; a larger one is RESOURCE_EXHAUSTED from its length prefix on.
  public var maxMessageBytes: Int
  /// Concurrent streams per connection; the stream above it is refused (REFUSED_STREAM), the
  /// connection stays.
  public var maxConcurrentStreams: Int
  /// Largest request header block (HTTP/2's count: name + value + 32 per field); above it the call
  /// is RESOURCE_EXHAUSTED.
  public var maxHeaderListBytes: Int
  /// HTTP/2 flow-control windows the peer starts with.
  public var streamWindowBytes: Int
  public var connectionWindowBytes: Int
  /// Request bytes a connection holds for its calls before it stops acknowledging more.
  public var connectionBudgetBytes: Int
  /// A connection with no stream this long is closed.
  public var idleTimeout: Duration
  /// A connection silent this long is pinged; one that does not answer within the timeout is closed.
  public var keepaliveTime: Duration
  public var keepaliveTimeout: Duration

  public init(
    maxMessageBytes: Int, maxConcurrentStreams: Int, maxHeaderListBytes: Int = 16_384, streamWindowBytes: Int = 1 << 20,
    connectionWindowBytes: Int = 16 << 20, connectionBudgetBytes: Int = 32 << 20, idleTimeout: Duration,
    keepaliveTime: Duration, keepaliveTimeout: Duration
  ) {
    self.maxMessageBytes = maxMessageBytes
    self.maxConcurrentStreams = maxConcurrentStreams
    self.maxHeaderListBytes = maxHeaderListBytes
    self.streamWindowBytes = streamWindowBytes
    self.connectionWindowBytes = connectionWindowBytes
    self.connectionBudgetBytes = connectionBudgetBytes
    self.idleTimeout = idleTimeout
    self.keepaliveTime = keepaliveTime
    self.keepaliveTimeout = keepaliveTimeout
  }
}
