import PrivacyRights
import PrivacyKit

await ServiceMain.run(.rights) { service, environment, logger, metrics in
  try await makeRightsServer(service: service, environment: environment, logger: logger, metrics: metrics)
}
