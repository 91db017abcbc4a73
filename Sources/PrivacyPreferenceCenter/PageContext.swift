import Hummingbird
import NIOCore

/// The request context of the page: Hummingbird's core storage and the client's address (for
/// the per-address rate limit and the consent evidence).
struct PageContext: RequestContext {
  var coreContext: CoreRequestContextStorage
  let remoteAddress: SocketAddress?

  init(source: ApplicationRequestContextSource) {
    coreContext = .init(source: source)
    remoteAddress = source.channel.remoteAddress
  }

  /// The client's IP address as text; empty when unknown.
  var clientAddress: String { remoteAddress?.ipAddress ?? "" }

  /// Forms are small: anything larger is not a form the page sent.
  var maxUploadSize: Int { 64 * 1024 }
}
