import PrivacyBlocklist
import PrivacyKit

await ServiceMain.run(.blocklist) { service, environment, logger, metrics in
  try await makeBlocklistServer(service: service, environment: environment, logger: logger, metrics: metrics)
}
