import Foundation
import PrivacyCertificates
import PrivacyMail
import PrivacyTesting
import Testing

/// The SMTP client against a real SMTP server: aiosmtpd (PyPI), started by each test on a free
/// loopback port by `Tests/Mail/smtp_sink.py`, which keeps every message it accepts.
@Suite("SMTP client against aiosmtpd")
struct SMTPClientTests {
  static let message = """
    From: privacy@example.org
    To: ada@example.org
    Subject: Please confirm

    Hello,
    .a line that starts with a dot
    ..and one with two
    Grüße
    """

  @Test("a message is delivered as written: dot-stuffed on the wire, CRLF line ends, the envelope as given")
  func plain() async throws {
    let sink = try await SMTPSink()
    let client = SMTPClient(server: try SMTPServer(url: "smtp://127.0.0.1:\(sink.port)"))
    let reply = try await client.send(from: "privacy@example.org", to: ["ada@example.org", "bob@example.org"], message: Self.message)
    #expect(reply.code == 250 && reply.text == "OK: kept")
    let kept = try #require(try sink.messages().first)
    #expect(kept.from == "privacy@example.org" && kept.to == ["ada@example.org", "bob@example.org"])
    #expect(kept.content == Self.message.replacingOccurrences(of: "\n", with: "\r\n") + "\r\n")
    #expect(!kept.tls && kept.user == nil)
  }

  @Test("STARTTLS with the server's CA, then AUTH PLAIN; AUTH LOGIN where PLAIN is not offered")
  func tlsAndAuthentication() async throws {
    let directory = try TestDirectory()
    defer { directory.remove() }
    let ca = try CertificateAuthority(directory: directory.url, name: "smtp-ca")
    let certificate = try ca.server("smtp")
    for loginOnly in [false, true] {
      let sink = try await SMTPSink(
        ["--tls", certificate.certificateFile, certificate.keyFile, "--auth", "relay:s3cret"] + (loginOnly ? ["--login-only"] : []))
      let server = try SMTPServer(
        url: "smtp://127.0.0.1:\(sink.port)", requireTLS: true, credentials: .init(username: "relay", password: "s3cret"),
        caFile: ca.certificateFile)
      _ = try await SMTPClient(server: server).send(from: "privacy@example.org", to: ["ada@example.org"], message: Self.message)
      let kept = try #require(try sink.messages().first)
      #expect(kept.tls && kept.user == "relay", "login only: \(loginOnly)")

      var wrong = server
      wrong.credentials = .init(username: "relay", password: "guess")
      let refused = await failure { try await SMTPClient(server: wrong).send(from: "privacy@example.org", to: ["ada@example.org"], message: Self.message) }
      guard case .permanent(let stage, let reply) = refused else { Issue.record("\(String(describing: refused))"); continue }
      #expect(stage.hasPrefix("AUTH") && reply.code == 535)
      #expect(try sink.messages().count == 1)
    }
  }

  @Test("a certificate from another CA is refused before anything is sent")
  func untrustedCertificate() async throws {
    let directory = try TestDirectory()
    defer { directory.remove() }
    let certificate = try CertificateAuthority(directory: directory.url, name: "smtp-ca").server("smtp")
    let other = try CertificateAuthority(directory: directory.url, name: "other-ca")
    let sink = try await SMTPSink(["--tls", certificate.certificateFile, certificate.keyFile])
    let server = try SMTPServer(url: "smtp://127.0.0.1:\(sink.port)", requireTLS: true, caFile: other.certificateFile)
    let refused = await failure { try await SMTPClient(server: server).send(from: "privacy@example.org", to: ["ada@example.org"], message: Self.message) }
    #expect(refused?.isTransient == true, "\(String(describing: refused))")
    #expect(try sink.messages().isEmpty)
  }

  @Test("TLS required, or credentials to send, and no STARTTLS offered: nothing is sent")
  func tlsRequired() async throws {
    let sink = try await SMTPSink()
    let required = try SMTPServer(url: "smtp://127.0.0.1:\(sink.port)", requireTLS: true)
    let credentials = try SMTPServer(url: "smtp://127.0.0.1:\(sink.port)", credentials: .init(username: "relay", password: "s3cret"))
    for server in [required, credentials] {
      let refused = await failure { try await SMTPClient(server: server).send(from: "privacy@example.org", to: ["ada@example.org"], message: Self.message) }
      #expect(refused == .tlsUnavailable && refused?.isTransient == false)
    }
    #expect(try sink.messages().isEmpty)
  }

  @Test("a 4xx reply is transient and a 5xx permanent, with the server's reply kept; nothing is delivered")
  func refusals() async throws {
    let sink = try await SMTPSink(["--reply", "421 4.3.0 try again later", "--reply", "550 5.1.1 mailbox unavailable"])
    let client = SMTPClient(server: try SMTPServer(url: "smtp://127.0.0.1:\(sink.port)"))
    let send = { try await client.send(from: "privacy@example.org", to: ["ada@example.org"], message: Self.message) }
    let first = await failure(send)
    #expect(first == .transient(stage: "end of DATA", reply: SMTPReply(code: 421, text: "4.3.0 try again later")))
    #expect(first?.isTransient == true)
    let second = await failure(send)
    #expect(second == .permanent(stage: "end of DATA", reply: SMTPReply(code: 550, text: "5.1.1 mailbox unavailable")))
    #expect(try sink.messages().isEmpty)
    // The third is accepted: the connection after a refusal is as good as any.
    #expect(try await send().code == 250)
    #expect(try sink.messages().count == 1)
  }

  @Test("no server listening is a transient connection failure; an address that cannot go into a command is refused before connecting")
  func connectionAndAddresses() async throws {
    let client = SMTPClient(server: try SMTPServer(url: "smtp://127.0.0.1:\(closedPort())"))
    let refused = await failure { try await client.send(from: "privacy@example.org", to: ["ada@example.org"], message: Self.message) }
    #expect(refused?.isTransient == true)
    for (from, to) in [("privacy@example.org", ["ada@example.org>\r\nRCPT TO:<eve@example.org"]), ("a b@example.org", ["ada@example.org"]),
                       ("privacy@example.org", [])] {
      let bad = await failure { try await client.send(from: from, to: to, message: Self.message) }
      #expect(bad == .unusableAddress)
    }
    for url in ["http://127.0.0.1:25", "smtp://", "smtp://user@host:25", "smtp://host:25/path", "smtp://host:70000"] {
      #expect(throws: MalformedSMTPURL.self) { try SMTPServer(url: url) }
    }
  }

  private func failure(_ body: () async throws -> SMTPReply) async -> SMTPFailure? {
    do {
      _ = try await body()
      return nil
    } catch {
      return error as? SMTPFailure
    }
  }
}
