import Crypto
public import Foundation
public import PrivacyKit

/// Signs consent receipts as compact JWS (RFC 7515) with Ed25519 (`alg` EdDSA, RFC 8037) and
/// publishes the public key as a JWKS, so that anyone can check a receipt without asking us.
/// The key comes from `RECEIPT_SIGNING_KEY_FILE`: 32 random bytes, base64 (the launcher makes one).
public struct ReceiptSigner: Sendable {
  private let key: Curve25519.Signing.PrivateKey
  /// The key's id (`kid`): the first 16 hex digits of the SHA-256 of the public key.
  public let keyID: String

  public init(seed: Data) throws {
    key = try Curve25519.Signing.PrivateKey(rawRepresentation: seed)
    keyID = String(SHA256.hash(data: key.publicKey.rawRepresentation).hex.prefix(16))
  }

  /// The signer of `RECEIPT_SIGNING_KEY` / `RECEIPT_SIGNING_KEY_FILE`; nil when neither is set.
  public static func fromEnvironment(_ env: EnvironmentReader) throws(ConfigurationError) -> ReceiptSigner? {
    guard let text = try env.secret("RECEIPT_SIGNING_KEY") else { return nil }
    guard let seed = Data(base64Encoded: text), seed.count == 32, let signer = try? ReceiptSigner(seed: seed) else {
      throw .malformed("RECEIPT_SIGNING_KEY", "must be 32 bytes, base64 (an Ed25519 private key)")
    }
    return signer
  }

  /// The protected header every receipt carries.
  private var header: Data {
    Data(#"{"alg":"EdDSA","kid":"\#(keyID)","typ":"consent-receipt+jws"}"#.utf8)
  }

  /// The compact serialization: `header.payload.signature`, each base64url.
  public func sign(_ payload: Data) throws -> String {
    let signingInput = header.base64URLEncoded + "." + payload.base64URLEncoded
    let signature = try key.signature(for: Data(signingInput.utf8))
    return signingInput + "." + signature.base64URLEncoded
  }

  /// The payload of a receipt this key signed, or why it is not one.
  public func verify(_ jws: String) -> Result<Data, ReceiptProblem> {
    let parts = jws.split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count == 3, let headerBytes = Data(base64URLEncoded: parts[0]), let payload = Data(base64URLEncoded: parts[1]),
      let signature = Data(base64URLEncoded: parts[2])
    else { return .failure(.malformed) }
    guard let header = try? JSONSerialization.jsonObject(with: headerBytes) as? [String: Any], header["alg"] as? String == "EdDSA" else {
      return .failure(.malformed)
    }
    guard header["kid"] as? String == keyID else { return .failure(.unknownKey) }
    guard key.publicKey.isValidSignature(signature, for: Data("\(parts[0]).\(parts[1])".utf8)) else { return .failure(.badSignature) }
    return .success(payload)
  }

  /// The public key as a JSON Web Key Set (RFC 7517, OKP keys of RFC 8037).
  public var jwks: String {
    let x = key.publicKey.rawRepresentation.base64URLEncoded
    return #"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"\#(x)","kid":"\#(keyID)","use":"sig","alg":"EdDSA"}]}"#
  }
}

/// Why a receipt does not verify, in the words `VerifyReceipt` answers with.
public enum ReceiptProblem: String, Error, Sendable {
  case malformed = "not a compact JWS with an EdDSA header and a JSON receipt"
  case unknownKey = "signed by a key this service does not hold"
  case badSignature = "the signature does not match the receipt"
  case noSuchEvent = "the ledger holds no such event for that subject"
  case differsFromLedger = "the receipt does not match the ledger event it names"
}
