import Crypto
public import Foundation
#if canImport(Glibc)
import Glibc
#endif
import SwiftASN1
import X509

/// A small certificate authority that issues X.509 certificates (P-256, ECDSA-SHA256) as PEM
/// files in one directory: the launcher's dev CA and the tests' CAs. Private keys are written
/// 0600.
public struct CertificateAuthority: Sendable {
  /// A certificate and its private key, as PEM files.
  public struct Issued: Sendable {
    public let certificateFile: String
    public let keyFile: String
  }

  private let directory: URL
  private let key: Certificate.PrivateKey
  private let subject: DistinguishedName
  /// The CA's certificate (PEM), what a peer trusts.
  public let certificateFile: String
  /// The CA's private key (PEM).
  public let keyFile: String

  /// A new CA named `name`, written to `<name>.pem` and `<name>.key` in `directory`, valid for
  /// `days`.
  public init(directory: URL, name: String, days: Int = 30) throws {
    self.directory = directory
    key = Certificate.PrivateKey(P256.Signing.PrivateKey())
    subject = try DistinguishedName { CommonName(name) }
    let now = Date()
    let certificate = try Certificate(
      version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: key.publicKey,
      notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(86_400 * Double(days)),
      issuer: subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
      extensions: try Certificate.Extensions {
        Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
        Critical(KeyUsage(keyCertSign: true, cRLSign: true))
      },
      issuerPrivateKey: key)
    certificateFile = directory.appendingPathComponent("\(name).pem").path
    keyFile = directory.appendingPathComponent("\(name).key").path
    try Self.write(certificate.serializeAsPEM().pemString, to: certificateFile, secret: false)
    try Self.write(key.serializeAsPEM().pemString, to: keyFile, secret: true)
  }

  /// A server certificate for 127.0.0.1, ::1 and localhost, or for `hostName` alone.
  public func server(_ file: String = "server", hostName: String? = nil, days: Int = 1) throws -> Issued {
    let loopback: [GeneralName] = [
      .dnsName("localhost"), .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1])),
      .ipAddress(ASN1OctetString(contentBytes: ArraySlice([UInt8](repeating: 0, count: 15) + [1]))),
    ]
    return try issue(
      file, names: hostName.map { [.dnsName($0)] } ?? loopback, usage: .serverAuth, validFor: -3600...(86_400 * Double(days)))
  }

  /// A client certificate naming `identity` as a URI SAN (`spiffe://...`) or, without a scheme, a
  /// DNS SAN. `validFor` (seconds from now) in the past makes an expired one.
  public func client(_ identity: String, file: String? = nil, validFor: ClosedRange<TimeInterval> = -3600...86_400) throws -> Issued {
    let name: GeneralName = identity.contains("://") ? .uniformResourceIdentifier(identity) : .dnsName(identity)
    let file = file ?? "client-" + identity.map { $0.isLetter || $0.isNumber ? String($0) : "-" }.joined()
    return try issue(file, names: [name], usage: .clientAuth, validFor: validFor)
  }

  /// When the certificate in `file` stops being valid; nil when it cannot be read.
  public static func expiry(of file: String) -> Date? {
    guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return nil }
    return (try? Certificate(pemEncoded: text))?.notValidAfter
  }

  private func issue(_ file: String, names: [GeneralName], usage: ExtendedKeyUsage.Usage, validFor: ClosedRange<TimeInterval>) throws -> Issued {
    let leafKey = Certificate.PrivateKey(P256.Signing.PrivateKey())
    let now = Date()
    let certificate = try Certificate(
      version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: leafKey.publicKey,
      notValidBefore: now.addingTimeInterval(validFor.lowerBound), notValidAfter: now.addingTimeInterval(validFor.upperBound),
      issuer: subject, subject: try DistinguishedName { CommonName(file) }, signatureAlgorithm: .ecdsaWithSHA256,
      extensions: try Certificate.Extensions {
        Critical(BasicConstraints.notCertificateAuthority)
        Critical(KeyUsage(digitalSignature: true))
        try ExtendedKeyUsage([usage])
        SubjectAlternativeNames(names)
      },
      issuerPrivateKey: key)
    let issued = Issued(
      certificateFile: directory.appendingPathComponent("\(file).pem").path, keyFile: directory.appendingPathComponent("\(file).key").path)
    try Self.write(certificate.serializeAsPEM().pemString, to: issued.certificateFile, secret: false)
    try Self.write(leafKey.serializeAsPEM().pemString, to: issued.keyFile, secret: true)
    return issued
  }

  /// Writes a file whole; a secret one is created 0600 before any byte is in it.
  private static func write(_ text: String, to path: String, secret: Bool) throws {
    let temporary = path + ".tmp"
    FileManager.default.createFile(atPath: temporary, contents: nil, attributes: [.posixPermissions: secret ? 0o600 : 0o644])
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: temporary))
    try handle.write(contentsOf: Data(text.utf8))
    try handle.close()
    guard rename(temporary, path) == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path]) }
  }
}
