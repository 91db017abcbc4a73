// swift-tools-version:6.1
import PackageDescription

/// Settings shared by every target we own: Swift 6 mode and explicit existentials.
let swiftSettings: [SwiftSetting] = [
  .swiftLanguageMode(.v6),
  .enableUpcomingFeature("ExistentialAny"),
  .enableUpcomingFeature("InternalImportsByDefault"),
]

let grpcCore = Target.Dependency.product(name: "GRPCCore", package: "grpc-swift-2")
let grpcHTTP2 = Target.Dependency.product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport")
let grpcProtobuf = Target.Dependency.product(name: "GRPCProtobuf", package: "grpc-swift-protobuf")
let swiftProtobuf = Target.Dependency.product(name: "SwiftProtobuf", package: "swift-protobuf")
let grdb = Target.Dependency.product(name: "GRDB", package: "GRDB.swift")
let crypto = Target.Dependency.product(name: "Crypto", package: "swift-crypto")
let logging = Target.Dependency.product(name: "Logging", package: "swift-log")
let lifecycle = Target.Dependency.product(name: "ServiceLifecycle", package: "swift-service-lifecycle")
let argumentParser = Target.Dependency.product(name: "ArgumentParser", package: "swift-argument-parser")
let prometheus = Target.Dependency.product(name: "Prometheus", package: "swift-prometheus")
let nioCore = Target.Dependency.product(name: "NIOCore", package: "swift-nio")
let nioPosix = Target.Dependency.product(name: "NIOPosix", package: "swift-nio")
let nioHTTP1 = Target.Dependency.product(name: "NIOHTTP1", package: "swift-nio")
let nioTLS = Target.Dependency.product(name: "NIOTLS", package: "swift-nio")
let nioSSL = Target.Dependency.product(name: "NIOSSL", package: "swift-nio-ssl")
let certificateReloading = Target.Dependency.product(name: "NIOCertificateReloading", package: "swift-nio-extras")
let x509 = Target.Dependency.product(name: "X509", package: "swift-certificates")
let asn1 = Target.Dependency.product(name: "SwiftASN1", package: "swift-asn1")
let jwtKit = Target.Dependency.product(name: "JWTKit", package: "jwt-kit")
let yams = Target.Dependency.product(name: "Yams", package: "Yams")
let zipFoundation = Target.Dependency.product(name: "ZIPFoundation", package: "ZIPFoundation")
let histogram = Target.Dependency.product(name: "Histogram", package: "hdrhistogram-swift")
let postgres = Target.Dependency.product(name: "PostgresNIO", package: "postgres-nio")
let hummingbird = Target.Dependency.product(name: "Hummingbird", package: "hummingbird")
let hummingbirdCore = Target.Dependency.product(name: "HummingbirdCore", package: "hummingbird")
let hummingbirdTLS = Target.Dependency.product(name: "HummingbirdTLS", package: "hummingbird")
let mustache = Target.Dependency.product(name: "Mustache", package: "swift-mustache")
let httpTypes = Target.Dependency.product(name: "HTTPTypes", package: "swift-http-types")

/// A thin executable whose `main.swift` lives in `Services/<name>/`.
func executable(_ name: String, _ dependencies: [Target.Dependency]) -> Target {
  .executableTarget(
    name: name,
    dependencies: dependencies,
    path: "Services/\(name)",
    swiftSettings: swiftSettings
  )
}

let package = Package(
  name: "privacy-suite",
  platforms: [.macOS(.v15)],
  products: [
    .executable(name: "consent-service", targets: ["consent-service"]),
    .executable(name: "vault-service", targets: ["vault-service"]),
    .executable(name: "subject-rights-service", targets: ["subject-rights-service"]),
    .executable(name: "blocklist-service", targets: ["blocklist-service"]),
    .executable(name: "gateway", targets: ["gateway"]),
    .executable(name: "privacyctl", targets: ["privacyctl"]),
    .executable(name: "privacy-suite", targets: ["privacy-suite"]),
    .executable(name: "privacy-fuzz", targets: ["privacy-fuzz"]),
    .executable(name: "privacy-load", targets: ["privacy-load"]),
    .executable(name: "preference-center", targets: ["preference-center"]),
    .executable(name: "mail-relay", targets: ["mail-relay"]),
    .executable(name: "interop-server", targets: ["interop-server"]),
  ],
  dependencies: [
    .package(url: "https://github.com/grpc/grpc-swift-2.git", from: "2.4.3"),
    .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", from: "2.9.2"),
    .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", from: "2.4.1"),
    .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
    .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
    .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
    .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
    .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
    // TLS on every port: BoringSSL through NIO, certificates re-read while serving, X.509 parsing
    // (client identities) and, for tests and the launcher, certificate issuing.
    .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
    .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
    .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
    .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
    // The gateway only: JWT bearer tokens (JWKS) and the YAML policy and API-keys files.
    .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
    .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
    // PostgreSQL, the store for several replicas (DATABASE_URL=postgres://...).
    .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    // The gateway only: access and portability bundles, built in memory as a zip.
    .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20"),
    // The benchmarks' load client only: latency histograms.
    .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
    // The preference center only: the subjects' web page (HTTP server, HTML templates).
    .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
    .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
    .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
  ],
  targets: [
    // Generated by Protocol/generate; committed. Not edited by hand.
    .target(
      name: "PrivacyProtocol",
      dependencies: [grpcCore, grpcProtobuf, swiftProtobuf],
      swiftSettings: [.swiftLanguageMode(.v6)]
    ),
    // A crashing service dies at once (no seconds of symbolication); C because it is a signal handler.
    .target(name: "CFatalSignals"),
    // libnghttp2, the HTTP/2 engine of the servers' transport.
    .systemLibrary(name: "CNGHTTP2", pkgConfig: "libnghttp2", providers: [.apt(["libnghttp2-dev"])]),
    // The gRPC server transport on libnghttp2: the session, gRPC framing, GRPCCore's ServerTransport.
    .target(name: "PrivacyWire", dependencies: ["CNGHTTP2", grpcCore, nioCore, nioPosix], swiftSettings: swiftSettings),
    .target(
      name: "PrivacyKit",
      dependencies: ["CFatalSignals", "PrivacyWire", "PrivacyProtocol", grpcCore, grpcHTTP2, grpcProtobuf, swiftProtobuf, grdb, crypto, logging, lifecycle, prometheus, nioCore, nioPosix, nioHTTP1,
        nioTLS, nioSSL, certificateReloading, x509, postgres,
      ],
      swiftSettings: swiftSettings
    ),
    .target(name: "PrivacyConsent", dependencies: ["PrivacyKit", "PrivacyProtocol", grpcCore, grpcProtobuf, swiftProtobuf, grdb, crypto, logging, postgres], swiftSettings: swiftSettings),
    .target(name: "PrivacyVault", dependencies: ["PrivacyKit", "PrivacyProtocol", grpcCore, grpcProtobuf, swiftProtobuf, grdb, crypto, logging, nioPosix, postgres], swiftSettings: swiftSettings),
    .target(name: "PrivacyRights", dependencies: ["PrivacyKit", "PrivacyProtocol", grpcCore, grpcProtobuf, swiftProtobuf, grdb, crypto, logging, postgres], swiftSettings: swiftSettings),
    .target(name: "PrivacyBlocklist", dependencies: ["PrivacyKit", "PrivacyProtocol", grpcCore, grpcProtobuf, swiftProtobuf, grdb, crypto, logging, postgres], swiftSettings: swiftSettings),
    .target(
      name: "PrivacyGateway",
      dependencies: ["PrivacyKit", "PrivacyProtocol", "PrivacyConsent", "PrivacyWire", grpcCore, grpcHTTP2, grpcProtobuf, swiftProtobuf, grdb, crypto, logging, lifecycle, jwtKit, yams, zipFoundation, postgres],
      // The shipped default role policy, used when GATEWAY_POLICY_FILE is not set.
      resources: [.copy("Resources/default-policy.yaml")],
      swiftSettings: swiftSettings
    ),
    .target(name: "PrivacyCLI", dependencies: ["PrivacyKit", "PrivacyProtocol", grpcCore, grpcHTTP2, grpcProtobuf, swiftProtobuf, argumentParser], swiftSettings: swiftSettings),
    // Issues X.509 certificates as PEM files: the launcher's dev CA and the tests' CAs.
    .target(name: "PrivacyCertificates", dependencies: [crypto, x509, asn1], swiftSettings: swiftSettings),
    .target(name: "PrivacySuite", dependencies: ["PrivacyKit", "PrivacyCertificates", crypto, logging, lifecycle], swiftSettings: swiftSettings),
    // Fills a data directory with N subjects for benchmarks at scale (`privacy-suite seed`).
    // privacy-suite migrate: a service's SQLite file copied into PostgreSQL, chains intact.
    .target(name: "PrivacyMigrate", dependencies: ["PrivacyKit", "PrivacyConsent", "PrivacyVault", "PrivacyRights", "PrivacyBlocklist", "PrivacyGateway", grdb, postgres, logging], swiftSettings: swiftSettings),
    .target(name: "PrivacySeed", dependencies: ["PrivacyKit", "PrivacyConsent", "PrivacyVault", "PrivacyRights", "PrivacyBlocklist", "PrivacyGateway", logging], swiftSettings: swiftSettings),
    // Fuzz targets for the parsers of hostile input (scripts/fuzz builds them with libFuzzer).
    .target(name: "CLibFuzzer"),
    .target(name: "PrivacyFuzz", dependencies: ["PrivacyKit", "PrivacyWire", "PrivacyGateway", "PrivacyBlocklist"], swiftSettings: swiftSettings),
    // The benchmarks' load client: distinct requests from a template over many connections and streams.
    .target(name: "PrivacyLoad", dependencies: [grpcCore, grpcHTTP2, nioPosix, histogram], swiftSettings: swiftSettings),
    // The subjects' own web page: routes, templates, the gateway client.
    .target(
      name: "PrivacyPreferenceCenter",
      dependencies: ["PrivacyKit", "PrivacyProtocol", grpcCore, grpcHTTP2, grpcProtobuf, swiftProtobuf, crypto, logging, lifecycle, hummingbird, hummingbirdCore, hummingbirdTLS, mustache, httpTypes, nioSSL],
      resources: [.copy("Resources")],
      swiftSettings: swiftSettings
    ),
    // Mail delivery: a small SMTP client on SwiftNIO (STARTTLS, AUTH, dot-stuffing, reply classes)
    // and the relay draining the outboxes through the gateway.
    .target(
      name: "PrivacyMail",
      dependencies: ["PrivacyKit", "PrivacyProtocol", grpcCore, grpcHTTP2, grpcProtobuf, swiftProtobuf, logging, lifecycle, mustache, nioCore, nioPosix, nioHTTP1, nioSSL],
      swiftSettings: swiftSettings),
    // gRPC's interop TestService on the servers' transport, for stock interop clients; its
    // messages and stubs are generated by Protocol/generate from Protocol/grpc/testing.
    .target(name: "InteropProtocol", dependencies: [grpcCore, grpcProtobuf, swiftProtobuf], swiftSettings: [.swiftLanguageMode(.v6)]),
    .target(name: "PrivacyInterop", dependencies: ["InteropProtocol", "PrivacyKit", grpcCore, logging], swiftSettings: swiftSettings),
    .target(name: "PrivacyTesting", dependencies: ["PrivacyKit", "PrivacyProtocol", "PrivacyCertificates", grpcCore, grpcHTTP2, grpcProtobuf, logging, lifecycle, postgres], swiftSettings: swiftSettings),

    executable("consent-service", ["PrivacyConsent", "PrivacyKit"]),
    executable("vault-service", ["PrivacyVault", "PrivacyKit"]),
    executable("subject-rights-service", ["PrivacyRights", "PrivacyKit"]),
    executable("blocklist-service", ["PrivacyBlocklist", "PrivacyKit"]),
    executable("gateway", ["PrivacyGateway", "PrivacyKit"]),
    executable("privacyctl", ["PrivacyCLI", argumentParser]),
    executable("privacy-suite", ["PrivacySuite", "PrivacySeed", "PrivacyMigrate", "PrivacyKit", logging, lifecycle]),
    executable("privacy-fuzz", ["PrivacyFuzz", "CLibFuzzer"]),
    executable("privacy-load", ["PrivacyLoad", argumentParser]),
    executable("preference-center", ["PrivacyPreferenceCenter", "PrivacyKit", logging, lifecycle]),
    executable("mail-relay", ["PrivacyMail", "PrivacyKit", logging, lifecycle]),
    executable("interop-server", ["PrivacyInterop", "PrivacyKit"]),

    .testTarget(name: "PrivacyFuzzTests", dependencies: ["PrivacyFuzz"], swiftSettings: swiftSettings),
    .testTarget(
      name: "PrivacyLoadTests",
      dependencies: ["PrivacyLoad", "PrivacyRights", "PrivacyKit", "PrivacyTesting", "PrivacyProtocol", grpcCore, grdb, swiftProtobuf],
      swiftSettings: swiftSettings),
    .testTarget(name: "PrivacyMailTests", dependencies: ["PrivacyMail", "PrivacyTesting", "PrivacyCertificates"], swiftSettings: swiftSettings),
    .testTarget(name: "PrivacyWireTests", dependencies: ["PrivacyWire", grpcCore, grpcHTTP2, nioCore], swiftSettings: swiftSettings),
    .testTarget(name: "PrivacyKitTests", dependencies: ["PrivacyKit", "PrivacyTesting", "PrivacyCertificates", "PrivacyProtocol", grpcCore, grpcHTTP2, grpcProtobuf, grdb, lifecycle, logging], swiftSettings: swiftSettings),
    .testTarget(name: "PrivacyConsentTests", dependencies: ["PrivacyConsent", "PrivacyKit", "PrivacyTesting", "PrivacyProtocol", grpcCore, grpcHTTP2, grdb, swiftProtobuf], swiftSettings: swiftSettings),
    .testTarget(name: "PrivacyRightsTests", dependencies: ["PrivacyRights", "PrivacyKit", "PrivacyTesting", "PrivacyProtocol", grpcCore, grpcHTTP2, grdb, crypto], swiftSettings: swiftSettings),
    .testTarget(name: "PrivacyBlocklistTests", dependencies: ["PrivacyBlocklist", "PrivacyKit", "PrivacyTesting", "PrivacyProtocol", grpcCore, grpcHTTP2, grdb, postgres], swiftSettings: swiftSettings),
    .testTarget(
      name: "PrivacyMigrateTests",
      dependencies: ["PrivacyMigrate", "PrivacySeed", "PrivacySuite", "PrivacyConsent", "PrivacyVault", "PrivacyGateway", "PrivacyKit", "PrivacyTesting", "PrivacyProtocol", grpcCore, grpcHTTP2, grdb],
      swiftSettings: swiftSettings),
    .testTarget(name: "PrivacyVaultTests", dependencies: ["PrivacyVault", "PrivacyKit", "PrivacyTesting", "PrivacyProtocol", grpcCore, grpcHTTP2, grdb], swiftSettings: swiftSettings),
    .testTarget(
      name: "PrivacyGatewayTests",
      dependencies: [
        "PrivacyGateway", "PrivacyKit", "PrivacyTesting", "PrivacyCertificates", "PrivacyProtocol", "PrivacyConsent", "PrivacyVault", "PrivacyRights",
        "PrivacyBlocklist", "PrivacyPreferenceCenter", grpcCore, grpcHTTP2, grpcProtobuf, swiftProtobuf, grdb, jwtKit, logging, zipFoundation,
        postgres, lifecycle,
      ],
      swiftSettings: swiftSettings
    ),
    .testTarget(name: "IntegrationTests", dependencies: ["PrivacyKit", "PrivacyTesting", "PrivacyCertificates", "PrivacyProtocol", grpcCore, grpcHTTP2, swiftProtobuf, zipFoundation, yams, grdb, crypto], swiftSettings: swiftSettings),
  ]
)
