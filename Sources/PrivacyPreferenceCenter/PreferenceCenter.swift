import Foundation
import GRPCCore
import HTTPTypes
import Hummingbird
import Logging
import PrivacyKit
import PrivacyProtocol

/// The subject's own page: every route of the preference center. Each answers with a page,
/// never an error: a link that opens nothing gets the same neutral page whatever the reason,
/// a stale or foreign form a clear page and no change, a failure of the gateway an apology.
///
/// Tokens are in paths and forms only, never logged: the log names the route and the outcome.
struct PreferenceCenter: Sendable {
  let gateway: GatewayConnection
  let resources: PageResources
  let protection: FormProtection
  let statements: [String: String]
  let logger: Logger
  /// Per client address and per link: page views and posts together.
  let perAddress = RateLimiter(limit: 120)
  let perLink = RateLimiter(limit: 30)

  private typealias Consent = Privacy_Consent_V1_ConsentService.Method

  func register(on router: Router<PageContext>) {
    router.get("/p/:token") { request, context in await page(request, context) }
    router.post("/p/:token/changes") { request, context in await changes(request, context) }
    router.post("/p/:token/restriction") { request, context in await restriction(request, context) }
    router.post("/p/:token/requests") { request, context in await openRequest(request, context) }
    for link in RequestLink.allCases {
      router.get("\(link.path)") { request, context in await linkButton(link, request, context) }
      router.post("\(link.path)") { request, context in await followLink(link, request, context) }
    }
    router.get("/u/:token") { request, context in await unsubscribeButton(request, context) }
    router.post("/u/:token") { request, context in await unsubscribe(request, context) }
    for kind in ConfirmationKind.allCases {
      router.get("/confirm/\(kind.path)") { request, context in await confirmButton(kind, request, context) }
      router.post("/confirm/\(kind.path)") { request, context in await confirm(kind, request, context) }
    }
    router.get("/p/:token/receipts/:sequence") { request, context in await receipt(request, context) }
    router.get("/.well-known/jwks.json") { request, context in await receiptKeys(request, context) }
    router.get("/static/style.css") { _, _ in
      Response(status: .ok, headers: [.contentType: "text/css; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: resources.stylesheet)))
    }
    router.get("/healthz") { _, _ in "ok\n" }
  }

  // MARK: The preference page

  private func page(_ request: Request, _ context: PageContext) async -> Response {
    let frame = self.frame(request, titleKey: "page_title")
    guard let token = linkToken(context) else { return invalidLink(request) }
    if let refusal = limited(request, context, token: token) { return refusal }
    do {
      let preferences = try await SubjectPreferences.read(token: token, through: gateway)
      let view = PreferencePageView(
        frame, preferences: preferences, statement: statements[frame.language] ?? statements["en"], token: token,
        csrf: FormTokens(protection, token), gpc: Self.sendsGPC(request))
      return render("page", view)
    } catch {
      return failure(error, request, route: "page")
    }
  }

  private func changes(_ request: Request, _ context: PageContext) async -> Response {
    guard let token = linkToken(context) else { return invalidLink(request) }
    if let refusal = limited(request, context, token: token) { return refusal }
    let back = "/p/\(token)"
    do {
      let form = try PreferenceForm(body: try await body(request))
      guard protection.accepts(form.csrf, for: "changes", token) else { return formRefused(request, back: back) }
      let current = try await SubjectPreferences.read(token: token, through: gateway)
      let gpc = Self.sendsGPC(request)
      return try await ask(for: try form.changes(against: current, gpc: gpc), of: current, request, context, token: token, gpc: gpc, route: "changes")
    } catch is PreferenceForm.Malformed {
      return formRefused(request, back: back)
    } catch {
      return failure(error, request, route: "changes")
    }
  }

  /// Stop or resume processing (art 18): asked for like every change, applied when the subject
  /// follows the emailed confirmation.
  private func restriction(_ request: Request, _ context: PageContext) async -> Response {
    guard let token = linkToken(context) else { return invalidLink(request) }
    if let refusal = limited(request, context, token: token) { return refusal }
    let back = "/p/\(token)"
    do {
      let form = try PreferenceForm.fields(try await body(request), names: ["csrf", "restricted"])
      guard protection.accepts(form["csrf"] ?? "", for: "restriction", token), let restricted = ["true": true, "false": false][form["restricted"] ?? ""]
      else { return formRefused(request, back: back) }
      let current = try await SubjectPreferences.read(token: token, through: gateway)
      let changes: [Privacy_Consent_V1_PreferenceChange] =
        current.restricted == restricted ? [] : [.with { $0.restriction = .with { $0.restricted = restricted } }]
      return try await ask(for: changes, of: current, request, context, token: token, gpc: false, route: "restriction")
    } catch is PreferenceForm.Malformed {
      return formRefused(request, back: back)
    } catch {
      return failure(error, request, route: "restriction")
    }
  }

  /// Asks for the changes (nothing changes before the emailed confirmation), or says there are none.
  private func ask(
    for changes: [Privacy_Consent_V1_PreferenceChange], of current: SubjectPreferences, _ request: Request, _ context: PageContext,
    token: String, gpc: Bool, route: String
  ) async throws -> Response {
    let back = "/p/\(token)"
    guard !changes.isEmpty else {
      return render("message", MessageView(frame(request, titleKey: "no_changes_title"), textKey: "no_changes_text", back: back))
    }
    let _: Privacy_Consent_V1_RequestPreferenceChangeResponse = try await gateway.call(
      Consent.RequestPreferenceChange.descriptor,
      Privacy_Consent_V1_RequestPreferenceChangeRequest.with {
        $0.subjectID = current.subjectID
        $0.changes = changes
        $0.evidence = evidence(request, context, channel: .preferencePage, gpc: gpc)
        $0.language = language(of: request)
      }, as: .link(token))
    logger.info("preference change requested", metadata: ["route": "\(route)", "changes": "\(changes.count)"])
    return render("message", MessageView(frame(request, titleKey: "check_email_title"), textKey: "check_email_text", back: back))
  }

  // MARK: Consent receipts

  /// A signed receipt of one of the subject's decisions, as a file (`application/jose`): the
  /// gateway refuses a sequence of another subject's event.
  private func receipt(_ request: Request, _ context: PageContext) async -> Response {
    guard let token = linkToken(context) else { return invalidLink(request) }
    if let refusal = limited(request, context, token: token) { return refusal }
    guard let sequence = context.parameters.get("sequence").flatMap(UInt64.init), sequence > 0 else { return invalidLink(request) }
    do {
      let subjectID = try await gateway.subject(ofLink: token)
      let receipt: Privacy_Consent_V1_GetConsentReceiptResponse = try await gateway.call(
        Consent.GetConsentReceipt.descriptor,
        Privacy_Consent_V1_GetConsentReceiptRequest.with {
          $0.subjectID = subjectID
          $0.sequence = sequence
        }, as: .link(token))
      return Response(
        status: .ok,
        headers: [.contentType: "application/jose", .contentDisposition: "attachment; filename=\"consent-receipt-\(sequence).jws\""],
        body: .init(byteBuffer: ByteBuffer(string: receipt.jws)))
    } catch let error as RPCError where error.code == .notFound && error.errorInfoReason != "PREFERENCE_LINK_INVALID" {
      return invalidLink(request)
    } catch {
      return failure(error, request, route: "receipt")
    }
  }

  /// The public key of the receipts, for anyone checking one.
  private func receiptKeys(_ request: Request, _ context: PageContext) async -> Response {
    if let refusal = limited(request, context, token: nil) { return refusal }
    do {
      let keys: Privacy_Consent_V1_GetReceiptKeysResponse = try await gateway.call(
        Consent.GetReceiptKeys.descriptor, Privacy_Consent_V1_GetReceiptKeysRequest(), as: .none)
      return Response(
        status: .ok, headers: [.contentType: "application/jwk-set+json"], body: .init(byteBuffer: ByteBuffer(string: keys.jwks)))
    } catch {
      return failure(error, request, route: "jwks")
    }
  }

  // MARK: One-click unsubscribe (RFC 8058)

  /// A GET never unsubscribes (mail scanners follow links): it shows the button.
  private func unsubscribeButton(_ request: Request, _ context: PageContext) async -> Response {
    guard let token = linkToken(context) else { return invalidLink(request) }
    if let refusal = limited(request, context, token: token) { return refusal }
    let frame = self.frame(request, titleKey: "unsubscribe_title")
    let form = FormView(
      action: "/u/\(token)", fields: [HiddenField(name: "List-Unsubscribe", value: "One-Click")],
      button: frame.t["unsubscribe_button"] ?? "")
    return render("message", MessageView(frame, textKey: "unsubscribe_text", form: form))
  }

  /// The POST a mail client sends (`List-Unsubscribe=One-Click`), or the page's own button: opts
  /// the subject out at once, recorded with channel EMAIL_LINK. No CSRF token: RFC 8058's POST
  /// comes from the mail provider, and the link's token is the only credential.
  private func unsubscribe(_ request: Request, _ context: PageContext) async -> Response {
    guard let token = linkToken(context) else { return invalidLink(request) }
    if let refusal = limited(request, context, token: token) { return refusal }
    do {
      guard try PreferenceForm.pairs(try await body(request)).contains(where: { $0 == ("List-Unsubscribe", "One-Click") }) else {
        return formRefused(request, back: "/u/\(token)")
      }
      let subjectID = try await gateway.subject(ofLink: token)
      let _: Privacy_Consent_V1_SetEmailOptInStatusResponse = try await gateway.call(
        Consent.SetEmailOptInStatus.descriptor,
        Privacy_Consent_V1_SetEmailOptInStatusRequest.with {
          $0.subjectID = subjectID
          $0.status = .optOutContact
          $0.setBy = .contact
          $0.evidence = evidence(request, context, channel: .emailLink, gpc: false)
        }, as: .link(token))
      logger.info("unsubscribed by link", metadata: ["route": "unsubscribe"])
      return render("message", MessageView(frame(request, titleKey: "unsubscribed_title"), textKey: "unsubscribed_text", back: "/p/\(token)"))
    } catch is PreferenceForm.Malformed {
      return formRefused(request, back: "/u/\(token)")
    } catch {
      return failure(error, request, route: "unsubscribe")
    }
  }

  // MARK: Confirmation links

  /// The link in a confirmation mail shows a button; only its POST confirms, so that a mail
  /// scanner following the link confirms nothing.
  private func confirmButton(_ kind: ConfirmationKind, _ request: Request, _ context: PageContext) async -> Response {
    guard let token = request.uri.queryParameters.get("token").flatMap(Self.wellFormedToken) else { return invalidLink(request) }
    if let refusal = limited(request, context, token: token) { return refusal }
    let frame = self.frame(request, titleKey: kind.titleKey)
    let form = FormView(
      action: "/confirm/\(kind.path)",
      fields: [HiddenField(name: "token", value: token), HiddenField(name: "csrf", value: protection.token(for: "confirm", token))],
      button: frame.t["confirm_button"] ?? "")
    return render("message", MessageView(frame, textKey: kind.textKey, form: form))
  }

  private func confirm(_ kind: ConfirmationKind, _ request: Request, _ context: PageContext) async -> Response {
    do {
      let fields = try PreferenceForm.fields(try await body(request), names: ["token", "csrf"])
      guard let token = fields["token"].flatMap(Self.wellFormedToken) else { return invalidLink(request) }
      if let refusal = limited(request, context, token: token) { return refusal }
      guard let csrf = fields["csrf"], protection.accepts(csrf, for: "confirm", token) else { return formRefused(request, back: nil) }
      let address = context.clientAddress
      let agent = Self.userAgent(request)
      switch kind {
      case .preferences:
        let _: Privacy_Consent_V1_ConfirmPreferenceChangeResponse = try await gateway.call(
          Consent.ConfirmPreferenceChange.descriptor,
          Privacy_Consent_V1_ConfirmPreferenceChangeRequest.with { $0.token = token; $0.ipAddress = address; $0.userAgent = agent },
          as: .none)
      case .doubleOptIn:
        let _: Privacy_Consent_V1_ConfirmDoubleOptInResponse = try await gateway.call(
          Consent.ConfirmDoubleOptIn.descriptor,
          Privacy_Consent_V1_ConfirmDoubleOptInRequest.with { $0.token = token; $0.ipAddress = address; $0.userAgent = agent },
          as: .none)
      }
      logger.info("confirmed", metadata: ["route": "confirm", "kind": "\(kind.path)"])
      return render("message", MessageView(frame(request, titleKey: "confirmed_title"), textKey: "confirmed_text"))
    } catch is PreferenceForm.Malformed {
      return formRefused(request, back: nil)
    } catch let error as RPCError where [.notFound, .failedPrecondition].contains(error.code) {
      return render("message", MessageView(frame(request, titleKey: "confirm_failed_title"), textKey: "confirm_failed_text"), status: .gone)
    } catch {
      return failure(error, request, route: "confirm")
    }
  }

  /// What a confirmation link confirms, and where it lands.
  enum ConfirmationKind: CaseIterable, Sendable {
    case preferences
    case doubleOptIn

    /// The path the consent service puts in its links (`/confirm/<path>?token=`).
    var path: String { self == .preferences ? "preferences" : "double-opt-in" }
    var titleKey: String { self == .preferences ? "confirm_title" : "confirm_subscription_title" }
    var textKey: String { self == .preferences ? "confirm_text" : "confirm_subscription_text" }
  }

  // MARK: Pieces

  func frame(_ request: Request, titleKey: String) -> PageFrame {
    PageFrame(language: language(of: request), titleKey: titleKey, catalogue: resources.catalogue)
  }

  /// The language the person reads the page in (`?lang=`, else Accept-Language): also the one
  /// the mails the page asks for are written in.
  func language(of request: Request) -> String {
    Catalogue.language(query: request.uri.queryParameters.get("lang"), acceptLanguage: request.headers[.acceptLanguage])
  }

  func render(_ template: String, _ view: Any, status: HTTPResponse.Status = .ok) -> Response {
    let html = resources.templates.render(view, withTemplate: template) ?? ""
    return Response(status: status, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: html)))
  }

  /// The same page for every link that opens nothing: unknown, expired, revoked, malformed.
  func invalidLink(_ request: Request) -> Response {
    render("message", MessageView(frame(request, titleKey: "invalid_title"), textKey: "invalid_text"), status: .notFound)
  }

  func formRefused(_ request: Request, back: String?) -> Response {
    render("message", MessageView(frame(request, titleKey: "form_title"), textKey: "form_text", back: back), status: .badRequest)
  }

  func failure(_ error: any Error, _ request: Request, route: String) -> Response {
    if let error = error as? RPCError, error.code == .notFound, error.errorInfoReason == "PREFERENCE_LINK_INVALID" {
      return invalidLink(request)
    }
    let code = (error as? RPCError).map { $0.code.description } ?? "\(type(of: error))"
    logger.error("gateway call failed", metadata: ["route": "\(route)", "grpc.status": "\(code)"])
    return render("message", MessageView(frame(request, titleKey: "error_title"), textKey: "error_text"), status: .serviceUnavailable)
  }

  /// Both limits, the address's and the link's (when there is one); the link counted by its hash,
  /// never kept in clear.
  func limited(_ request: Request, _ context: PageContext, token: String?) -> Response? {
    guard perAddress.admit(context.clientAddress), token.map({ perLink.admit(SecureToken.hash($0)) }) ?? true else {
      var response = render("message", MessageView(frame(request, titleKey: "rate_title"), textKey: "rate_text"), status: .tooManyRequests)
      response.headers[.retryAfter] = "60"
      return response
    }
    return nil
  }

  func linkToken(_ context: PageContext) -> String? {
    context.parameters.get("token").flatMap(Self.wellFormedToken)
  }

  /// A token as the services mint them: 1-128 characters of base64url. Anything else opens
  /// nothing without asking the gateway.
  static func wellFormedToken(_ text: String) -> String? {
    guard (1...128).contains(text.utf8.count), text.utf8.allSatisfy({ byte in
      (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
        || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
    }) else { return nil }
    return text
  }

  /// The form's body; one over 64 KiB (or cut short) is not a form the page sent.
  func body(_ request: Request) async throws(PreferenceForm.Malformed) -> String {
    do {
      return String(buffer: try await request.body.collect(upTo: 64 * 1024))
    } catch {
      throw PreferenceForm.Malformed()
    }
  }

  static func sendsGPC(_ request: Request) -> Bool {
    request.headers[.secGPC]?.trimmingCharacters(in: .whitespaces) == "1"
  }

  static func userAgent(_ request: Request) -> String {
    String((request.headers[.userAgent] ?? "").prefix(1024))
  }

  /// The click's evidence. A Global Privacy Control signal is named in the form name, so the
  /// ledger keeps it as the evidence of an objection by automated means (art 21(5)).
  func evidence(
    _ request: Request, _ context: PageContext, channel: Privacy_Common_V1_Channel, gpc: Bool
  ) -> Privacy_Consent_V1_Evidence {
    .with {
      $0.channel = channel
      $0.formName = gpc ? "preference-page (Sec-GPC: 1)" : "preference-page"
      $0.ipAddress = context.clientAddress
      $0.userAgent = Self.userAgent(request)
      $0.actorKind = .subject
    }
  }
}
