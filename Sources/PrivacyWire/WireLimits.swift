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
  /// nghttp2's token bucket for streams the peer resets: `burst` at once, refilled by `perSecond`;
  /// beyond it the connection is closed (the rapid-reset defence). nghttp2's defaults (1,000 and 33)
  /// suit a client; a backend's only client is the gateway, which relays every caller's
  /// cancellations over one connection, so backends allow more.
  public var resetBurst: UInt64
  public var resetsPerSecond: UInt64
  /// A connection with no stream this long is closed.
  public var idleTimeout: Duration
  /// A connection silent this long is pinged; one that does not answer within the timeout is closed.
  public var keepaliveTime: Duration
  public var keepaliveTimeout: Duration

  public init(
    maxMessageBytes: Int, maxConcurrentStreams: Int, maxHeaderListBytes: Int = 16_384, streamWindowBytes: Int = 1 << 20,
    connectionWindowBytes: Int = 16 << 20, connectionBudgetBytes: Int = 32 << 20, resetBurst: UInt64 = 1000,
    resetsPerSecond: UInt64 = 33, idleTimeout: Duration,
    keepaliveTime: Duration, keepaliveTimeout: Duration
  ) {
    self.maxMessageBytes = maxMessageBytes
    self.maxConcurrentStreams = maxConcurrentStreams
    self.maxHeaderListBytes = maxHeaderListBytes
    self.streamWindowBytes = streamWindowBytes
    self.connectionWindowBytes = connectionWindowBytes
    self.connectionBudgetBytes = connectionBudgetBytes
    self.resetBurst = resetBurst
    self.resetsPerSecond = resetsPerSecond
    self.idleTimeout = idleTimeout
    self.keepaliveTime = keepaliveTime
    self.keepaliveTimeout = keepaliveTimeout
  }
}
