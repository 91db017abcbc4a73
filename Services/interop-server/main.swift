import PrivacyInterop
import PrivacyKit

await ServiceMain.run(.interop) { service, _, logger, metrics in
  makeInteropServer(service: service, logger: logger, metrics: metrics)
}
