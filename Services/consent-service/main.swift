import PrivacyConsent
import PrivacyKit

await ServiceMain.run(.consent) { service, environment, logger, metrics in
  try await makeConsentServer(
    configuration: ConsentConfiguration(service: service, environment: environment), logger: logger, metrics: metrics)
}
