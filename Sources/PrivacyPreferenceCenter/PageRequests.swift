import GRPCCore
import Hummingbird
import PrivacyProtocol

/// The person's own data-subject requests from their page: erasure (art 17), access (art 15)
/// and portability (art 20). The page asks; the gateway opens the request as the link's subject
/// and mails the identity verification to the address on record; the verification link lands
/// here, and only the POST of its button confirms (mail scanners follow links). A completed
/// access or portability request's bundle comes through the one-time link mailed with the
/// completion notice, to the verified address: never from the page itself, whose link may
/// have been forwarded.
extension PreferenceCenter {
  private typealias Rights = Privacy_Rights_V1_SubjectRightsService.Method

  /// The rights the page offers, by the value of the form's button.
  static let offeredRights: [String: Privacy_Rights_V1_Right] = ["erasure": .erasure, "access": .access, "portability": .portability]

  func openRequest(_ request: Request, _ context: PageContext) async -> Response {
    guard let token = linkToken(context) else { return invalidLink(request) }
    if let refusal = limited(request, context, token: token) { return refusal }
    let back = "/p/\(token)"
    do {
      let form = try PreferenceForm.fields(try await body(request), names: ["csrf", "right"])
      guard protection.accepts(form["csrf"] ?? "", for: "requests", token), let name = form["right"], let right = Self.offeredRights[name]
      else { return formRefused(request, back: back) }
      let subjectID = try await gateway.subject(ofLink: token)
      let opened: Privacy_Rights_V1_OpenRequestResponse = try await gateway.call(
        Rights.OpenRequest.descriptor,
        Privacy_Rights_V1_OpenRequestRequest.with {
          $0.subjectID = subjectID
          $0.right = right
          $0.language = language(of: request)
        }, as: .link(token))
      logger.info("request asked for", metadata: ["route": "requests", "right": "\(name)", "created": "\(opened.created)"])
      let text = opened.request.status == .verifying ? "request_check_email_text" : "request_already_verified_text"
      return render("message", MessageView(frame(request, titleKey: "request_title"), textKey: text, back: back))
    } catch is PreferenceForm.Malformed {
      return formRefused(request, back: back)
    } catch let error as RPCError where error.code == .failedPrecondition {
      // No address on record to verify at, or verification locked after failed attempts.
      return render("message", MessageView(frame(request, titleKey: "request_title"), textKey: "request_not_online_text", back: back), status: .conflict)
    } catch {
      return failure(error, request, route: "requests")
    }
  }

  /// A mailed link of a request: its verification or its bundle's download (the raw value names
  /// the route and the CSRF purpose). Opening it shows one button that posts the request id and
  /// token back; only that POST acts, so a mail scanner following the link does nothing.
  enum RequestLink: String, CaseIterable, Sendable {
    case verify
    case download

    var path: String { "/requests/\(rawValue)" }
    var titleKey: String { self == .verify ? "verify_title" : "download_title" }
    var textKey: String { self == .verify ? "verify_text" : "download_text" }
    var buttonKey: String { self == .verify ? "confirm_button" : "download_button" }
  }

  func linkButton(_ link: RequestLink, _ request: Request, _ context: PageContext) async -> Response {
    let query = request.uri.queryParameters
    guard let token = query.get("token").flatMap(Self.wellFormedToken), let requestID = query.get("request_id").flatMap(Self.wellFormedToken)
    else { return invalidLink(request) }
    if let refusal = limited(request, context, token: token) { return refusal }
    let frame = self.frame(request, titleKey: link.titleKey)
    let form = FormView(
      action: link.path,
      fields: [
        HiddenField(name: "request_id", value: requestID), HiddenField(name: "token", value: token),
        HiddenField(name: "csrf", value: protection.token(for: link.rawValue, token)),
      ],
      button: frame.t[link.buttonKey] ?? "")
    return render("message", MessageView(frame, textKey: link.textKey, form: form))
  }

  /// The POST of a link's button: checked (form, limits, CSRF), then verifies the request or
  /// hands out its bundle. A token the rights service refuses (wrong, used, expired) gets the
  /// link's own "cannot be used" page.
  func followLink(_ link: RequestLink, _ request: Request, _ context: PageContext) async -> Response {
    do {
      let fields = try PreferenceForm.fields(try await body(request), names: ["request_id", "token", "csrf"])
      guard let token = fields["token"].flatMap(Self.wellFormedToken), let requestID = fields["request_id"].flatMap(Self.wellFormedToken)
      else { return invalidLink(request) }
      if let refusal = limited(request, context, token: token) { return refusal }
      guard protection.accepts(fields["csrf"] ?? "", for: link.rawValue, token) else { return formRefused(request, back: nil) }
      switch link {
      case .verify: return try await verify(requestID: requestID, token: token, request)
      case .download: return try await download(requestID: requestID, token: token)
      }
    } catch is PreferenceForm.Malformed {
      return formRefused(request, back: nil)
    } catch let error as RPCError where [.notFound, .failedPrecondition, .invalidArgument].contains(error.code) {
      return render("message", MessageView(frame(request, titleKey: "\(link.rawValue)_failed_title"), textKey: "\(link.rawValue)_failed_text"), status: .gone)
    } catch {
      return failure(error, request, route: link.rawValue)
    }
  }

  private func verify(requestID: String, token: String, _ request: Request) async throws -> Response {
    let _: Privacy_Rights_V1_ConfirmVerificationResponse = try await gateway.call(
      Rights.ConfirmVerification.descriptor,
      Privacy_Rights_V1_ConfirmVerificationRequest.with {
        $0.requestID = requestID
        $0.token = token
      }, as: .none)
    logger.info("request verified", metadata: ["route": "verify"])
    return render("message", MessageView(frame(request, titleKey: "verified_title"), textKey: "verified_text"))
  }

  /// The bundle itself, once: the rights service uses the token up with this fetch.
  private func download(requestID: String, token: String) async throws -> Response {
    let answer: Privacy_Rights_V1_GetArtifactResponse = try await gateway.call(
      Rights.GetArtifact.descriptor,
      Privacy_Rights_V1_GetArtifactRequest.with {
        $0.requestID = requestID
        $0.downloadToken = token
      }, as: .none)
    logger.info("bundle downloaded", metadata: ["route": "download"])
    let artifact = answer.artifact
    return Response(
      status: .ok,
      headers: [
        .contentType: Self.safeHeaderValue(artifact.mediaType, fallback: "application/octet-stream"),
        .contentDisposition: "attachment; filename=\"\(Self.safeHeaderValue(artifact.fileName, fallback: "my-data.zip"))\"",
      ],
      body: .init(byteBuffer: ByteBuffer(bytes: artifact.content)))
  }

  /// A value safe inside a header (and a quoted file name): printable ASCII without quotes or
  /// backslashes; anything else gets the fallback.
  static func safeHeaderValue(_ value: String, fallback: String) -> String {
    let safe = !value.isEmpty && value.utf8.count <= 200 && value.utf8.allSatisfy { (0x20...0x7E).contains($0) && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }
    return safe ? value : fallback
  }
}
