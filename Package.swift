// swift-tools-version:6.0
import PackageDescription

// No package dependencies. sendmail and the setgid drop helper must start in about a
// millisecond and stay off Foundation/ICU (see DESIGN "Build and start-up"). outboxctl
// used swift-argument-parser, which needs FoundationEssentials: about 7 MB in a static binary,
// and 16.2 vs 11 MB idle RSS in outboxd. outboxctl and outboxd are now one installed
// executable (the outboxctl product, which runs as outboxd under that name): it shares
// the Swift runtime, OpenSSL, SASL and the delivery code, and its command line is
// OutboxSupport's CommandLineSpec. The outboxd product is the same daemon on its own,
// for development and the tests.
let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "outbox",
    products: [
        .executable(name: "sendmail", targets: ["sendmail"]),
        .executable(name: "outboxdrop", targets: ["outboxdrop"]),
        .executable(name: "outboxctl", targets: ["outboxctl"]),
        .executable(name: "outboxd", targets: ["outboxd"]),
        // The parsers, for the libFuzzer targets in Fuzz/ (a separate package, built with
        // -sanitize=fuzzer,address): nothing installed links this.
        .library(
            name: "OutboxParsers",
            targets: ["OutboxSubmit", "OutboxMessage", "OutboxDrop", "OutboxSpool", "OutboxSMTP", "OutboxConfig", "OutboxOAuth"]),
    ],
    targets: [
        // C: the pre-runtime environment scrub for set-id execution, and syscalls Glibc's
        // Swift overlay does not expose (getauxval, getrandom, close_range).
        .target(name: "COutboxSys"),
        // C for the daemon side only (control socket, spawning the password command).
        .target(name: "COutboxDaemon"),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CSASL", pkgConfig: "libsasl2", providers: [.apt(["libsasl2-dev"])]),
        // What the set-id helper links, and all it links (`make bench` prints the count):
        // descriptors, errors, privilege, the envelope grammar (OutboxCore), and the drop
        // format (OutboxDrop: records, the stream grammar, the writer, queue IDs, the
        // paths), which sendmail and outboxd's adoption share.
        .target(name: "OutboxCore", dependencies: ["COutboxSys"], swiftSettings: strict),
        .target(name: "OutboxDrop", dependencies: ["OutboxCore"], swiftSettings: strict),
        // Shared by the unprivileged programs only: Base64, JSON, host name, dates as text.
        .target(name: "OutboxSupport", dependencies: ["COutboxSys", "OutboxCore"], swiftSettings: strict),
        // outboxd's queue: reading and validating queue files, delivery state, listings.
        .target(name: "OutboxSpool", dependencies: ["OutboxCore", "OutboxDrop", "OutboxSupport"], swiftSettings: strict),
        .target(name: "OutboxConfig", dependencies: ["OutboxCore", "OutboxSupport"], swiftSettings: strict),
        .target(name: "OutboxMessage", dependencies: ["OutboxCore", "OutboxSupport"], swiftSettings: strict),
        // The SMTP grammar as values: no I/O, no C libraries.
        .target(name: "OutboxSMTP", dependencies: ["OutboxCore", "OutboxSupport"], swiftSettings: strict),
        // Sockets with poll(2) deadlines; TLS and SASL each behind one module.
        .target(name: "OutboxNet", swiftSettings: strict),
        .target(name: "OutboxTLS", dependencies: ["COpenSSL", "OutboxNet"], swiftSettings: strict),
        .target(name: "OutboxSASL", dependencies: ["CSASL"], swiftSettings: strict),
        // The OAuth2 client: token endpoint grants, JWT client assertions (OpenSSL), the
        // refresh token file, and the small HTTPS client they need (over OutboxTLS; see
        // HTTPSClient for why not libcurl).
        .target(name: "OutboxOAuth", dependencies: ["COpenSSL", "OutboxCore", "OutboxSupport", "OutboxNet", "OutboxTLS"], swiftSettings: strict),
        .target(
            name: "OutboxDelivery",
            dependencies: [
                "COutboxDaemon", "OutboxCore", "OutboxDrop", "OutboxSupport", "OutboxSpool", "OutboxConfig", "OutboxMessage", "OutboxSMTP",
                "OutboxNet", "OutboxTLS", "OutboxSASL", "OutboxOAuth",
            ],
            swiftSettings: strict),
        .target(
            name: "OutboxSubmit",
            dependencies: ["OutboxCore", "OutboxDrop", "OutboxSupport", "OutboxSpool", "OutboxConfig", "OutboxMessage", "OutboxSMTP"],
            swiftSettings: strict),
        .executableTarget(
            name: "sendmail", dependencies: ["OutboxSubmit"], swiftSettings: strict,
            linkerSettings: [.unsafeFlags(["-static-executable"], .when(configuration: .release))]),
        // The set-id helper always links the Swift runtime statically, debug builds too:
        // only then does COutboxSys's priority-101 constructor empty the environment
        // before the runtime reads SWIFT_* variables (a shared libswiftCore initialises
        // before any constructor of the executable). The privilege test checks this.
        .executableTarget(
            name: "outboxdrop", dependencies: ["COutboxSys", "OutboxDrop"], swiftSettings: strict,
            linkerSettings: [
                .unsafeFlags(["-static-stdlib"], .when(configuration: .debug)),
                .unsafeFlags(["-static-executable"], .when(configuration: .release)),
            ]),

        .executableTarget(
            name: "outboxctl",
            dependencies: [
                "OutboxDelivery", "OutboxConfig", "OutboxCore", "OutboxDrop", "OutboxSupport", "OutboxSpool", "OutboxOAuth",
            ],
            swiftSettings: strict),

        .executableTarget(
            name: "outboxd",
            dependencies: ["COutboxDaemon", "OutboxDelivery", "OutboxConfig", "OutboxCore"],
            swiftSettings: strict),

        .testTarget(name: "OutboxMessageTests", dependencies: ["OutboxMessage"], swiftSettings: strict),
        .testTarget(name: "OutboxSpoolTests", dependencies: ["OutboxDrop", "OutboxSpool"], swiftSettings: strict),
        .testTarget(name: "OutboxConfigTests", dependencies: ["OutboxConfig", "OutboxDrop"], swiftSettings: strict),
        .testTarget(name: "OutboxSMTPTests", dependencies: ["OutboxSMTP"], swiftSettings: strict),
        .testTarget(name: "OutboxDeliveryTests", dependencies: ["OutboxDelivery"], swiftSettings: strict),
        .testTarget(name: "OutboxOAuthTests", dependencies: ["OutboxOAuth", "OutboxSupport"], swiftSettings: strict),
        .testTarget(name: "OutboxSASLTests", dependencies: ["OutboxSASL", "CSASL"], swiftSettings: strict),
        .testTarget(
            name: "OutboxSubmitTests", dependencies: ["OutboxSubmit"],
            resources: [.copy("Fixtures")], swiftSettings: strict),
        .testTarget(
            name: "IntegrationTests", dependencies: ["OutboxDrop", "OutboxSpool", "OutboxConfig", "OutboxSubmit"],
            resources: [.copy("Fixtures")], swiftSettings: strict),
    ]
)
