import Foundation
import GRPCCore
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Testing

/// A TCP connection that a test holds open without speaking gRPC.
final class SilentConnection {
  let descriptor: Int32

  init(port: Int, sending bytes: [UInt8] = []) throws {
    descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    let connected = withLoopbackAddress(port: port) { connect(descriptor, $0, $1) }
    guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
    if !bytes.isEmpty { _ = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) } }
  }

  /// Whether the server closed the connection within `timeout` (end of stream or a reset); bytes
  /// the server sends first (its SETTINGS, a GOAWAY) are read and skipped. Polls without blocking,
  /// so the test leaves the shared task threads to the server.
  func closedByServer(within timeout: Duration) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    var buffer = [UInt8](repeating: 0, count: 4096)
    while ContinuousClock.now < deadline {
      var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
      if poll(&poller, 1, 0) > 0 {
        if read(descriptor, &buffer, buffer.count) <= 0 { return true }
      } else {
        try await Task.sleep(for: .milliseconds(20))
      }
    }
    return false
  }

  deinit { close(descriptor) }
}

@Suite("Connection limits")
struct ConnectionLimitTests {
  static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + [0, 0, 0, 4, 0, 0, 0, 0, 0]

  @Test("connections above GRPC_MAX_CONNECTIONS are closed at once; silent and half-handshaken ones go after the handshake timeout, handshaken idle ones only after the idle timeout")
  func capAndHandshakeTimeout() async throws {
    let directory = try TestDirectory()
    defer { directory.remove() }
    let environment = testEnvironment(
      database: directory.path("unused.sqlite"),
      extra: ["GRPC_MAX_CONNECTIONS": "3", "GRPC_HANDSHAKE_TIMEOUT_S": "2", "GRPC_IDLE_TIMEOUT_S": "6"])
    let server = PrivacyServer(
      configuration: try ServiceConfiguration(kind: .consent, environment: environment),
      services: [SleepService(started: {})], serviceNames: ["test.Runtime"], logger: silentLogger)
    try await withRunningServer(server) { port async throws in
      let silent = try SilentConnection(port: port)
      let halfPreface = try SilentConnection(port: port, sending: Array(Self.preface.prefix(10)))
      // A client that connects ahead of its traffic, as the gateway does with its backends.
      let handshaken = try SilentConnection(port: port, sending: Self.preface)
      try await Task.sleep(for: .milliseconds(200))
      let fourth = try SilentConnection(port: port, sending: Self.preface)
      // Well under the 6 s idle timeout, which would close it too; generous for a loaded machine.
      #expect(try await fourth.closedByServer(within: .seconds(4)))
      for connection in [silent, halfPreface] {
        #expect(try await connection.closedByServer(within: .seconds(4)))
      }
      #expect(try await !handshaken.closedByServer(within: .seconds(1)), "closed before the idle timeout")
      let health = try await withTestClient(port: port) { client in
        try await Grpc_Health_V1_Health.Client(wrapping: client).check(.init())
      }
      #expect(health.status == .serving)
      #expect(try await handshaken.closedByServer(within: .seconds(6)))
    }
  }
}
