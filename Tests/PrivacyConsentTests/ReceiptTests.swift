import Foundation
import GRPCCore
import PrivacyKit
import PrivacyProtocol
import PrivacyTesting
import Testing

/// Signed consent receipts: GetConsentReceipt, VerifyReceipt and GetReceiptKeys on a real server.
@Suite("Consent receipts")
struct ReceiptTests {
  static let key = Data((1...32).map { UInt8($0) }).base64EncodedString()
  static let otherKey = Data((101...132).map { UInt8($0) }).base64EncodedString()

  /// The parts of a compact JWS, the header and payload decoded.
  private func parts(_ jws: String) throws -> (header: [String: Any], payload: [String: Any], raw: [String]) {
    let raw = jws.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
    try #require(raw.count == 3)
    func json(_ part: String) throws -> [String: Any] {
      let bytes = try #require(Data(base64URLEncoded: part))
      return try #require(try JSONSerialization.jsonObject(with: bytes) as? [String: Any])
    }
    return (try json(raw[0]), try json(raw[1]), raw)
  }

  @Test("a receipt names the decision, its basis, notice, channel and ledger place, holds no evidence of the click, and verifies")
  func receipt() async throws {
    try await withConsentService(environment: ["RECEIPT_SIGNING_KEY": Self.key, "RECEIPT_CONTROLLER": "Example Shop Ltd"]) { client, _ in
      _ = try await client.upsert(purpose("newsletter"))
      let event = try await client.record("c1", "newsletter", .granted)
      let jws = try await client.getConsentReceipt(.with { $0.subjectID = "c1"; $0.sequence = event.sequence }).jws
      let (header, payload, raw) = try parts(jws)
      #expect(header["alg"] as? String == "EdDSA")
      #expect(payload["controller"] as? String == "Example Shop Ltd" && payload["subject"] as? String == "c1")
      #expect((payload["purpose"] as? [String: Any])?["id"] as? String == "newsletter")
      #expect(payload["decision"] as? String == "granted" && payload["legal_basis"] as? String == "consent")
      #expect(payload["notice_version"] as? String == "v1" && payload["channel"] as? String == "webform")
      let ledger = try #require(payload["ledger"] as? [String: Any])
      #expect((ledger["sequence"] as? NSNumber)?.uint64Value == event.sequence && ledger["hash"] as? String == event.hash)
      let text = String(decoding: Data(base64URLEncoded: raw[1]) ?? Data(), as: UTF8.self)
      #expect(!text.contains("203.0.113.7") && !text.contains("Mozilla"))

      let keys = try await client.getReceiptKeys(.init()).jwks
      let jwks = try #require(try JSONSerialization.jsonObject(with: Data(keys.utf8)) as? [String: Any])
      let key = try #require((jwks["keys"] as? [[String: Any]])?.first)
      #expect(key["kty"] as? String == "OKP" && key["crv"] as? String == "Ed25519" && key["kid"] as? String == header["kid"] as? String)

      let verdict = try await client.verifyReceipt(.with { $0.jws = jws })
      #expect(verdict.valid && verdict.problem.isEmpty)
    }
  }

  @Test("a changed, foreign or unreadable receipt does not verify, and says why")
  func forgeries() async throws {
    let foreign = try await withConsentService(environment: ["RECEIPT_SIGNING_KEY": Self.otherKey]) { client, _ in
      _ = try await client.upsert(purpose("newsletter"))
      let event = try await client.record("c1", "newsletter", .granted)
      return try await client.getConsentReceipt(.with { $0.subjectID = "c1"; $0.sequence = event.sequence }).jws
    }
    try await withConsentService(environment: ["RECEIPT_SIGNING_KEY": Self.key]) { client, _ in
      _ = try await client.upsert(purpose("newsletter"))
      let event = try await client.record("c1", "newsletter", .granted)
      let jws = try await client.getConsentReceipt(.with { $0.subjectID = "c1"; $0.sequence = event.sequence }).jws
      let raw = jws.split(separator: ".").map(String.init)
      let (_, payload, _) = try parts(jws)
      var changed = payload
      changed["decision"] = "denied"
      let forgedPayload = try JSONSerialization.data(withJSONObject: changed, options: [.sortedKeys]).base64URLEncoded
      let cases: [(String, String)] = [
        ("\(raw[0]).\(forgedPayload).\(raw[2])", "the signature does not match the receipt"),
        (foreign, "signed by a key this service does not hold"),
        ("not a receipt", "not a compact JWS with an EdDSA header and a JSON receipt"),
      ]
      for (receipt, problem) in cases {
        let verdict = try await client.verifyReceipt(.with { $0.jws = receipt })
        #expect(!verdict.valid && verdict.problem == problem)
      }
    }
  }

  @Test("another subject's event, sequence 0 and a service without a key are refused precisely")
  func refusals() async throws {
    try await withConsentService(environment: ["RECEIPT_SIGNING_KEY": Self.key]) { client, _ in
      _ = try await client.upsert(purpose("newsletter"))
      let event = try await client.record("c1", "newsletter", .granted)
      let other = await capturedRPCError { try await client.getConsentReceipt(.with { $0.subjectID = "c2"; $0.sequence = event.sequence }) }
      #expect(other?.code == .notFound)
      let zero = await capturedRPCError { try await client.getConsentReceipt(.with { $0.subjectID = "c1"; $0.sequence = 0 }) }
      #expect(zero?.code == .invalidArgument)
    }
    try await withConsentService { client, _ in
      let off = await capturedRPCError { try await client.getReceiptKeys(.init()) }
      #expect(off?.code == .failedPrecondition && off?.errorInfoReason == "RECEIPTS_NOT_CONFIGURED")
    }
  }
}
