import PrivacyVault
import PrivacyKit

await ServiceMain.run(.vault) { service, environment, logger, metrics in
  try await makeVaultServer(service: service, environment: environment, logger: logger, metrics: metrics)
}
