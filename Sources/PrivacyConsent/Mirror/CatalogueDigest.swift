public import PrivacyProtocol
import PrivacyKit
import SwiftProtobuf

/// A digest of the consent catalogue (purposes and mailing lists) as the service lists it:
/// SHA-256 (hex) over each message's deterministic encoding, in id order, purposes then lists.
/// The service sends it in each `caught_up` marker of the change feed, and a follower computes it
/// over what it listed: different digests mean its catalogue is not the service's. A digest of
/// the content rather than a time of change: a clock moved back cannot hide a change from it.
public enum CatalogueDigest {
  public static func of(purposes: [Privacy_Consent_V1_Purpose], lists: [Privacy_Consent_V1_MailingList]) -> String {
    var options = BinaryEncodingOptions()
    options.useDeterministicOrdering = true
    var encoder = CanonicalEncoder()
    func append(_ message: some SwiftProtobuf.Message) {
      // A proto3 message always encodes; were one ever not to, the digest would differ and the
      // follower list again.
      encoder.append((try? message.serializedBytes(options: options) as [UInt8]) ?? [])
    }
    encoder.append(UInt64(purposes.count))
    for purpose in purposes.sorted(by: { $0.purposeID < $1.purposeID }) { append(purpose) }
    encoder.append(UInt64(lists.count))
    for list in lists.sorted(by: { $0.listID < $1.listID }) { append(list) }
    return encoder.sha256Hex
  }
}
