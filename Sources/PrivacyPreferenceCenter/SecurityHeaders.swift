import HTTPTypes
import Hummingbird

/// Headers on every answer: no script at all and nothing from elsewhere (CSP), no referrer (the
/// link's token is in the URL and must not leak to another site), no caching (the page is
/// personal), no framing, no content sniffing.
struct SecurityHeaders<Context: RequestContext>: RouterMiddleware {
  static var headers: HTTPFields {
    [
      .contentSecurityPolicy:
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
      .referrerPolicy: "no-referrer",
      .cacheControl: "no-store",
      .xContentTypeOptions: "nosniff",
      HTTPField.Name("X-Frame-Options")!: "DENY",
    ]
  }

  func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
    var response: Response
    do {
      response = try await next(request, context)
    } catch {
      // An unknown path or method, a body over the limit: Hummingbird's own errors, answered
      // here so that they carry the headers too. The page's routes answer their errors themselves.
      let status = (error as? HTTPError)?.status ?? .internalServerError
      response = Response(status: status, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: status.reasonPhrase + "\n")))
    }
    for field in Self.headers { response.headers[field.name] = field.value }
    return response
  }
}

extension HTTPField.Name {
  static let contentSecurityPolicy = Self("Content-Security-Policy")!
  static let referrerPolicy = Self("Referrer-Policy")!
  static let xContentTypeOptions = Self("X-Content-Type-Options")!
  static let secGPC = Self("Sec-GPC")!
  static let contentDisposition = Self("Content-Disposition")!
}
