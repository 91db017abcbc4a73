public import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// POSTs one JSON document to an https endpoint, signed in `X-Privacy-Signature`, over a
/// connection of its own (HTTP/1.1, `Connection: close`, no redirects followed). A 2xx answer
/// is delivery; 408, 425, 429, a 5xx, a failed connection or TLS handshake, or no answer in time
/// may succeed later; any other answer will not.
public struct WebhookClient: Sendable {
  public let timeout: Duration
  private let tlsContext: Result<NIOSSLContext, any Error>

  /// `caFile`: the CA that vouches for the endpoints (PEM); nil trusts the system's store.
  public init(caFile: String?, timeout: Duration) {
    self.timeout = timeout
    tlsContext = Result {
      var configuration = TLSConfiguration.makeClientConfiguration()
      configuration.minimumTLSVersion = .tlsv12
      if let caFile { configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile)) }
      return try NIOSSLContext(configuration: configuration)
    }
  }

  /// Sends `body`; answers the endpoint's 2xx status or throws a `WebhookFailure`.
  public func post(to url: String, body: String, signature: String, noticeID: String) async throws(WebhookFailure) -> Int {
    guard let parsed = URL(string: url), parsed.scheme == "https", let host = parsed.host, !host.isEmpty else {
      throw .permanent("not an https URL")
    }
    let port = parsed.port ?? 443
    let path = parsed.path.isEmpty ? "/" : parsed.path
    let target = parsed.query.map { path + "?" + $0 } ?? path
    let tls: NIOSSLContext
    do { tls = try tlsContext.get() } catch { throw .permanent("the CA file cannot be read") }
    let status: Int
    do {
      status = try await withThrowingTaskGroup(of: Int.self) { group in
        group.addTask { try await exchange(host: host, port: port, target: target, body: body, signature: signature, noticeID: noticeID, tls: tls) }
        group.addTask {
          try await Task.sleep(for: timeout)
          throw WebhookFailure.transient("no answer within \(timeout)")
        }
        defer { group.cancelAll() }
        return try await group.next()!
      }
    } catch let failure as WebhookFailure {
      throw failure
    } catch {
      throw .transient("connection: \(type(of: error))")
    }
    switch status {
    case 200..<300: return status
    case 408, 425, 429, 500..<600: throw .transient("HTTP \(status)")
    default: throw .permanent("HTTP \(status)")
    }
  }

  private func exchange(
    host: String, port: Int, target: String, body: String, signature: String, noticeID: String, tls: NIOSSLContext
  ) async throws -> Int {
    let serverName = (try? SocketAddress(ipAddress: host, port: 0)) == nil ? host : nil
    let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
      .connectTimeout(.seconds(10))
      .connect(host: host, port: port) { channel in
        channel.eventLoop.makeCompletedFuture {
          try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: serverName))
          try channel.pipeline.syncOperations.addHTTPClientHandlers()
          return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
        }
      }
    return try await channel.executeThenClose { inbound, outbound in
      let bytes = ByteBuffer(string: body)
      var headers = HTTPHeaders()
      headers.add(name: "Host", value: port == 443 ? host : "\(host):\(port)")
      headers.add(name: "Content-Type", value: "application/json")
      headers.add(name: "Content-Length", value: String(bytes.readableBytes))
      headers.add(name: "X-Privacy-Signature", value: signature)
      headers.add(name: "X-Privacy-Notice-Id", value: noticeID)
      headers.add(name: "User-Agent", value: "privacy-suite-mail-relay")
      headers.add(name: "Connection", value: "close")
      try await outbound.write(.head(HTTPRequestHead(version: .http1_1, method: .POST, uri: target, headers: headers)))
      try await outbound.write(.body(.byteBuffer(bytes)))
      try await outbound.write(.end(nil))
      var status: Int?
      var received = 0
      for try await part in inbound {
        switch part {
        case .head(let head): status = Int(head.status.code)
        case .body(let chunk):
          // The answer's body is not needed; a server that keeps talking is cut off.
          received += chunk.readableBytes
          if received > 64 * 1024, let status { return status }
        case .end: if let status { return status }
        }
      }
      guard let status else { throw WebhookFailure.transient("the connection closed before an answer") }
      return status
    }
  }
}

/// Why a webhook notice was not delivered; whether trying again may help.
public enum WebhookFailure: Error, Equatable, CustomStringConvertible {
  case transient(String)
  case permanent(String)

  public var isTransient: Bool {
    if case .transient = self { return true }
    return false
  }

  public var description: String {
    switch self {
    case .transient(let what), .permanent(let what): "webhook: \(what)"
    }
  }
}
