import Foundation
import Logging
import NIOCertificateReloading
import ServiceLifecycle

/// A certificate chain and its private key read from PEM files and re-read every `interval`
/// while a server runs (`keepReloading`), so a renewed pair is used for new connections without a
/// restart. A pair that fails to load or whose key does not match is logged and the last good one
/// kept. Serves as a server's certificate and as the gateway's client certificate.
public final class ReloadingCertificate: Sendable {
  public let certificateFile: String
  public let keyFile: String
  let interval: Duration
  /// Hands the pair last read to BoringSSL at each handshake.
  let reloader: TimedCertificateReloader

  /// Reads the pair now; fails naming `certificateVariable` when it cannot.
  public init(certificateFile: String, keyFile: String, interval: Duration, certificateVariable: String, keyVariable: String) throws(ConfigurationError) {
    self.certificateFile = certificateFile
    self.keyFile = keyFile
    self.interval = interval
    do {
      reloader = try TimedCertificateReloader.makeReloaderValidatingSources(
        refreshInterval: interval,
        certificateSource: .init(location: .file(path: certificateFile), format: .pem),
        privateKeySource: .init(location: .file(path: keyFile), format: .pem))
    } catch {
      throw .malformed(certificateVariable, "and \(keyVariable) could not be loaded as a PEM certificate chain and its private key: \(error)")
    }
  }

  /// Re-reads the pair every `interval` until a graceful shutdown (or cancellation).
  func keepReloading(logger: Logger) async {
    try? await cancelWhenGracefulShutdown {
      while true {
        try await Task.sleep(for: self.interval)
        do {
          try self.reloader.reload()
        } catch {
          logger.warning(
            "TLS certificate reload failed; the last good certificate stays in use",
            metadata: ["tls.certificate.file": "\(self.certificateFile)", "error": "\(error)"])
        }
      }
    }
  }

  /// `TLS_RELOAD_INTERVAL_S` (default 60).
  static func interval(_ env: EnvironmentReader) throws(ConfigurationError) -> Duration {
    .seconds(try env.int("TLS_RELOAD_INTERVAL_S", range: 1...86_400) ?? 60)
  }
}
