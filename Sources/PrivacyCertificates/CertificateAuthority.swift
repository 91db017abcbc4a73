import Crypto
public import Foundation
import SwiftASN1
import X509

/// A certificate authority made for one test, issuing certificates as PEM files in a directory:
/// real X.509 (P-256, ECDSA-SHA256) that BoringSSL and Python's grpcio check like any other.
public struct TestCertificateAuthority: Sendable {
  /// A certificate and its private key, as PEM files.
  public struct Issued: Sendable {
    public let certificateFile: String
    public let keyFile: String
  }

  private let directory: TestDirectory
  private let name: String
  private let key: Certificate.PrivateKey
  private let subject: DistinguishedName
  /// The CA's certificate (PEM), what a peer trusts.
  public let certificateFile: String

  public init(directory: TestDirectory, name: String = "privacy-test-ca") throws {
    self.directory = directory
    self.name = name
    key = Certificate.PrivateKey(P256.Signing.PrivateKey())
    subject = try DistinguishedName { CommonName(name) }
    let now = Date()
    let certificate = try Certificate(
      version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: key.publicKey,
      notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(86_400 * 30),
      issuer: subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
      extensions: try Certificate.Extensions {
        Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
        Critical(KeyUsage(keyCertSign: true, cRLSign: true))
      },
      issuerPrivateKey: key)
    certificateFile = directory.path("\(name).pem")
    try certificate.serializeAsPEM().pemString.write(toFile: certificateFile, atomically: true, encoding: .utf8)
  }

  /// A server certificate for 127.0.0.1, ::1 and localhost, or for `hostName` alone.
  public func server(_ file: String = "server", hostName: String? = nil) throws -> Issued {
    let loopback: [GeneralName] = [
      .dnsName("localhost"), .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1])),
      .ipAddress(ASN1OctetString(contentBytes: ArraySlice([UInt8](repeating: 0, count: 15) + [1]))),
    ]
    return try issue(file, names: hostName.map { [.dnsName($0)] } ?? loopback, usage: .serverAuth)
  }

  /// A client certificate naming `identity` as a URI SAN (`spiffe://...`) or, without a scheme, a
  /// DNS SAN. `validFor` in the past makes an expired one.
  public func client(_ identity: String, file: String? = nil, validFor: ClosedRange<TimeInterval> = -3600...86_400) throws -> Issued {
    let name: GeneralName = identity.contains("://") ? .uniformResourceIdentifier(identity) : .dnsName(identity)
    let file = file ?? "client-" + identity.map { $0.isLetter || $0.isNumber ? String($0) : "-" }.joined()
    return try issue(file, names: [name], usage: .clientAuth, validFor: validFor)
  }

  private func issue(
    _ file: String, names: [GeneralName], usage: ExtendedKeyUsage.Usage, validFor: ClosedRange<TimeInterval> = -3600...86_400
  ) throws -> Issued {
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
    let issued = Issued(certificateFile: directory.path("\(file).pem"), keyFile: directory.path("\(file).key"))
    try certificate.serializeAsPEM().pemString.write(toFile: issued.certificateFile, atomically: true, encoding: .utf8)
    try leafKey.serializeAsPEM().pemString.write(toFile: issued.keyFile, atomically: true, encoding: .utf8)
    try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: issued.keyFile)
    return issued
  }
}
