import Foundation
import NIOCore
import NIOPosix
import NIOSSL

/// A small SMTP client (RFC 5321) on SwiftNIO: EHLO, STARTTLS (RFC 3207) or TLS from the first
/// byte, AUTH PLAIN or LOGIN (RFC 4954, only ever under TLS), MAIL FROM, RCPT TO, DATA with
/// dot-stuffing, RSET after a refused transaction, and QUIT. One message per connection: a
/// delivery either ends with the server's 250 to the end of DATA (the message is the server's
/// from then on) or throws an `SMTPFailure` that says whether trying again may help.
public struct SMTPClient: Sendable {
  public let server: SMTPServer
  /// Made once: loading the trust roots costs more than a whole delivery on loopback.
  private let tlsContext: Result<NIOSSLContext, any Error>

  public init(server: SMTPServer) {
    self.server = server
    tlsContext = Result { try Self.makeTLSContext(caFile: server.caFile) }
  }

  /// Delivers `message` (RFC 5322 text: headers, a blank line, the body) from `sender` to
  /// `recipients`; answers the server's reply to the end of DATA.
  public func send(from sender: String, to recipients: [String], message: String) async throws -> SMTPReply {
    guard !recipients.isEmpty, ([sender] + recipients).allSatisfy(Self.isUsable) else { throw SMTPFailure.unusableAddress }
    let tls = try tlsContext.get()
    let channel = try await connect(tls: tls)
    return try await withThrowingTaskGroup(of: SMTPReply.self) { group in
      group.addTask {
        try await channel.executeThenClose { inbound, outbound in
          var session = Session(lines: inbound.makeAsyncIterator(), outbound: outbound)
          return try await deliver(&session, channel: channel.channel, tls: tls, sender: sender, recipients: recipients, message: message)
        }
      }
      group.addTask {
        try await Task.sleep(for: server.timeout)
        channel.channel.close(promise: nil)
        throw SMTPFailure.connection("no answer within \(server.timeout)")
      }
      defer { group.cancelAll() }
      do {
        return try await group.next()!
      } catch let failure as SMTPFailure {
        throw failure
      } catch {
        throw SMTPFailure.connection("\(type(of: error))")
      }
    }
  }

  // MARK: The dialogue

  private func deliver(
    _ session: inout Session, channel: any Channel, tls: NIOSSLContext, sender: String, recipients: [String], message: String
  ) async throws -> SMTPReply {
    try expect(try await session.reply(), 220, at: "greeting")
    var offered = try await session.hello(server.clientName)
    if !server.implicitTLS {
      if offered.contains("STARTTLS") {
        try expect(try await session.command("STARTTLS"), 220, at: "STARTTLS")
        let hostname = server.hostIsAddress ? nil : server.host
        try await channel.eventLoop.submit {
          try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: hostname), position: .first)
        }.get()
        offered = try await session.hello(server.clientName)
      } else if server.requireTLS || server.credentials != nil {
        try? await session.quit()
        throw SMTPFailure.tlsUnavailable
      }
    }
    if let credentials = server.credentials {
      try await authenticate(&session, credentials, offered: offered)
    }
    do {
      try expect(try await session.command("MAIL FROM:<\(sender)>"), 250, at: "MAIL FROM")
      for recipient in recipients {
        let reply = try await session.command("RCPT TO:<\(recipient)>")
        if reply.code != 251 { try expect(reply, 250, at: "RCPT TO") }
      }
      try expect(try await session.command("DATA"), 354, at: "DATA")
      let accepted = try await session.send(Self.dataPayload(message))
      try expect(accepted, 250, at: "end of DATA")
      try? await session.quit()
      return accepted
    } catch let failure as SMTPFailure where !failure.isConnectionLost {
      // A refused transaction is abandoned cleanly before leaving.
      _ = try? await session.command("RSET")
      try? await session.quit()
      throw failure
    }
  }

  /// AUTH PLAIN when offered, else AUTH LOGIN; a 535 (wrong credentials) is permanent.
  private func authenticate(_ session: inout Session, _ credentials: SMTPServer.Credentials, offered: Set<String>) async throws {
    let mechanisms = offered.filter { $0.hasPrefix("AUTH ") }.flatMap { $0.split(separator: " ").dropFirst().map(String.init) }
    let encode = { (text: String) in Data(text.utf8).base64EncodedString() }
    // Credentials travel only here, under TLS, and never into a log or an error.
    if mechanisms.contains("PLAIN") {
      let reply = try await session.command("AUTH PLAIN " + encode("\0\(credentials.username)\0\(credentials.password)"))
      try expect(reply, 235, at: "AUTH PLAIN")
    } else if mechanisms.contains("LOGIN") {
      try expect(try await session.command("AUTH LOGIN"), 334, at: "AUTH LOGIN")
      try expect(try await session.command(encode(credentials.username)), 334, at: "AUTH LOGIN")
      try expect(try await session.command(encode(credentials.password)), 235, at: "AUTH LOGIN")
    } else {
      try? await session.quit()
      throw SMTPFailure.noUsableAuthentication
    }
  }

  private func expect(_ reply: SMTPReply, _ code: Int, at stage: String) throws {
    guard reply.code != code else { return }
    throw reply.isTransient ? SMTPFailure.transient(stage: stage, reply: reply) : SMTPFailure.permanent(stage: stage, reply: reply)
  }

  // MARK: Pieces

  private func connect(tls: NIOSSLContext) async throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer> {
    let server = self.server
    let hostname = server.hostIsAddress ? nil : server.host
    do {
      return try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .connectTimeout(.seconds(10))
        .connect(host: server.host, port: server.port) { channel in
          channel.eventLoop.makeCompletedFuture {
            if server.implicitTLS {
              try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: hostname))
            }
            try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(SMTPLineDecoder()))
            return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
          }
        }
    } catch {
      throw SMTPFailure.connection("cannot connect to \(server.host):\(server.port)")
    }
  }

  private static func makeTLSContext(caFile: String?) throws -> NIOSSLContext {
    var configuration = TLSConfiguration.makeClientConfiguration()
    configuration.minimumTLSVersion = .tlsv12
    if let caFile {
      configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
    }
    return try NIOSSLContext(configuration: configuration)
  }

  /// An address goes between angle brackets in a command: no line break, bracket or space, and
  /// at most 254 characters.
  static func isUsable(_ address: String) -> Bool {
    !address.isEmpty && address.utf8.count <= 254 && address.utf8.allSatisfy { $0 > 0x20 && $0 != UInt8(ascii: "<") && $0 != UInt8(ascii: ">") && $0 != 0x7F }
  }

  /// The message as DATA carries it: every line ended by CRLF (a bare LF or CR becomes CRLF), a
  /// dot doubled at the start of a line (RFC 5321 4.5.2), and the lone dot that ends it.
  static func dataPayload(_ message: String) -> String {
    let normalized = message.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
    var lines = normalized.split(separator: "\n", omittingEmptySubsequences: false).map { $0.hasPrefix(".") ? "." + $0 : String($0) }
    if lines.last == "" { lines.removeLast() }
    return lines.map { $0 + "\r\n" }.joined() + ".\r\n"
  }
}

extension SMTPFailure {
  /// The connection is gone: nothing more can be said on it.
  var isConnectionLost: Bool {
    if case .connection = self { return true }
    return false
  }
}

/// One connection's reading and writing: commands out, replies in.
private struct Session {
  var lines: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
  let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>

  /// The next whole reply.
  mutating func reply() async throws -> SMTPReply {
    var assembler = SMTPReply.Assembler()
    while true {
      let line: ByteBuffer?
      do {
        line = try await lines.next()
      } catch let failure as SMTPFailure {
        throw failure
      } catch {
        throw SMTPFailure.connection("\(type(of: error))")
      }
      guard let line else { throw SMTPFailure.connection("closed by the server") }
      if let reply = try assembler.take(String(buffer: line)) { return reply }
    }
  }

  /// Sends one command line and reads its reply.
  mutating func command(_ line: String) async throws -> SMTPReply {
    try await send(line + "\r\n")
  }

  mutating func send(_ text: String) async throws -> SMTPReply {
    do {
      try await outbound.write(ByteBuffer(string: text))
    } catch {
      throw SMTPFailure.connection("\(type(of: error))")
    }
    return try await reply()
  }

  /// EHLO; the extensions the server offers, upper-cased (`STARTTLS`, `AUTH PLAIN LOGIN`, ...).
  mutating func hello(_ name: String) async throws -> Set<String> {
    let reply = try await command("EHLO \(name)")
    guard reply.code == 250 else {
      throw reply.isTransient ? SMTPFailure.transient(stage: "EHLO", reply: reply) : SMTPFailure.permanent(stage: "EHLO", reply: reply)
    }
    return Set(reply.text.split(separator: "\n").dropFirst().map { $0.uppercased() })
  }

  mutating func quit() async throws {
    _ = try await command("QUIT")
  }
}
