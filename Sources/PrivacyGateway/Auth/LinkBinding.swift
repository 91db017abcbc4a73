import GRPCCore
import PrivacyKit
import PrivacyProtocol

/// The rule of a role bound to a preference link (`bound_to_link: true`; the shipped
/// `preference-center`): it acts only for the subject of the link the subject was mailed.
///
/// Each call carries the link's token in `x-preference-token`. The gateway asks the consent
/// service which subject the token opens (`ResolvePreferenceLink`), then lets the call through
/// only if its request names that subject; a request that names no subject only if its method
/// concerns none (`subjectFreeMethods`). The emailed confirmations and download links, whose
/// single-use token names their subject, and the receipts' public key need no link
/// (`unboundMethods`). So the subject is never taken from a form field, and whatever the page
/// sends, a token for subject A reaches nothing of subject B. Some methods are further limited
/// (`LinkBoundLimit`), with a link or without.
enum LinkBinding {
  static let metadataKey = "x-preference-token"

  /// Methods whose request concerns no subject: the purposes and lists every page shows, and
  /// the link itself (ResolvePreferenceLink, for the link the call carries only: the page learns
  /// whose page it serves).
  static let subjectFreeMethods: Set<String> = [
    "privacy.consent.v1.ConsentService/ListPurposes",
    "privacy.consent.v1.ConsentService/ListMailingLists",
    "privacy.consent.v1.ConsentService/ResolvePreferenceLink",
    "privacy.gateway.v1.AdminService/WhoAmI",
  ]

  /// Methods called without a link: those whose request holds an emailed single-use token that
  /// names its subject, and the receipts' public key, which is public.
  static let unboundMethods: Set<String> = [
    "privacy.consent.v1.ConsentService/ConfirmPreferenceChange",
    "privacy.consent.v1.ConsentService/ConfirmDoubleOptIn",
    "privacy.consent.v1.ConsentService/GetReceiptKeys",
    "privacy.rights.v1.SubjectRightsService/ConfirmVerification",
    "privacy.rights.v1.SubjectRightsService/GetArtifact",
  ]

  /// The subject the call may act for: nil for an unbound method (no token needed), else the
  /// link's subject. Throws when the call may not go on.
  static func subject(
    for message: Any, method: String, metadata: Metadata, resolve: (String) async throws -> String
  ) async throws -> String? {
    if let limited = message as? any LinkBoundLimit, let refusal = limited.linkBoundRefusal {
      throw PermissionDenied(message: refusal)
    }
    if unboundMethods.contains(method) { return nil }
    guard let token = metadata[stringValues: metadataKey].first(where: { _ in true }), !token.isEmpty else {
      throw PermissionDenied(message: "this role acts only for the subject of a preference link: send its token in \(metadataKey)")
    }
    let subject = try await resolve(token)
    if let named = message as? any NamesSubject {
      guard named.subjectID == subject else {
        throw PermissionDenied(message: "this preference link does not act for the subject the request names")
      }
    } else if !subjectFreeMethods.contains(method) {
      throw PermissionDenied(message: "\(method) does not name the subject of a preference link")
    }
    if let asked = message as? Privacy_Consent_V1_ResolvePreferenceLinkRequest, asked.token != token {
      throw PermissionDenied(message: "a preference link resolves only itself")
    }
    return subject
  }
}

/// A request a link-bound role may send only in some forms.
protocol LinkBoundLimit {
  /// Why the request is refused to a link-bound caller; nil when allowed.
  var linkBoundRefusal: String? { get }
}

extension Privacy_Rights_V1_GetArtifactRequest: LinkBoundLimit {
  /// Only the person's own bundle, through the one-time link mailed to the verified address.
  var linkBoundRefusal: String? {
    downloadToken.isEmpty ? "a preference link fetches a bundle only with the one-time download token mailed with it" : nil
  }
}

extension Privacy_Consent_V1_SetEmailOptInStatusRequest: LinkBoundLimit {
  /// Only the contact's own opt-out: one-click unsubscribe (RFC 8058) needs no confirmation, but
  /// opting in from a link must go through the emailed confirmation (a forwarded mail must not
  /// subscribe anyone).
  var linkBoundRefusal: String? {
    status == .optOutContact && setBy == .contact
      ? nil : "a preference link may only set OPT_OUT_CONTACT by the CONTACT; opting in needs the emailed confirmation"
  }
}
