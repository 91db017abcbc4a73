import PrivacyGateway
import PrivacyKit

await ServiceMain.run(.gateway) { service, environment, logger, metrics in
  try await makeGatewayServer(service: service, environment: environment, logger: logger, metrics: metrics)
}
