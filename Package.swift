// swift-tools-version:6.0
import PackageDescription

// No package dependencies: sendmail and the setgid drop helper must start in about a
// millisecond and stay off Foundation/ICU (see DESIGN "Build and start-up").
let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "outbox",
    products: [
        .executable(name: "sendmail", targets: ["sendmail"]),
        .executable(name: "outboxdrop", targets: ["outboxdrop"]),
    ],
    targets: [
        // C: the pre-runtime environment scrub for set-id execution, and syscalls Glibc's
        // Swift overlay does not expose (getauxval, getrandom, close_range).
        .target(name: "COutboxSys"),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CSASL", pkgConfig: "libsasl2", providers: [.apt(["libsasl2-dev"])]),
        .target(name: "OutboxCore", dependencies: ["COutboxSys"], swiftSettings: strict),
        .target(name: "OutboxSpool", dependencies: ["OutboxCore"], swiftSettings: strict),
        .target(name: "OutboxConfig", dependencies: ["OutboxCore"], swiftSettings: strict),
        .target(name: "OutboxMessage", dependencies: ["OutboxCore"], swiftSettings: strict),
        // The SMTP grammar as values: no I/O, no C libraries.
        .target(name: "OutboxSMTP", swiftSettings: strict),
        .target(
            name: "OutboxSubmit",
            dependencies: ["OutboxCore", "OutboxSpool", "OutboxConfig", "OutboxMessage"],
            swiftSettings: strict),
        .executableTarget(
            name: "sendmail", dependencies: ["OutboxSubmit"], swiftSettings: strict,
            linkerSettings: [.unsafeFlags(["-static-executable"], .when(configuration: .release))]),
        // The set-id helper always links the Swift runtime statically, debug builds too:
        // only then does COutboxSys's priority-101 constructor empty the environment
        // before the runtime reads SWIFT_* variables (a shared libswiftCore initialises
        // before any constructor of the executable). The privilege test checks this.
        .executableTarget(
            name: "outboxdrop", dependencies: ["OutboxSpool", "OutboxConfig"], swiftSettings: strict,
            linkerSettings: [
                .unsafeFlags(["-static-stdlib"], .when(configuration: .debug)),
                .unsafeFlags(["-static-executable"], .when(configuration: .release)),
            ]),

        .testTarget(name: "OutboxMessageTests", dependencies: ["OutboxMessage"], swiftSettings: strict),
        .testTarget(name: "OutboxSpoolTests", dependencies: ["OutboxSpool"], swiftSettings: strict),
        .testTarget(name: "OutboxConfigTests", dependencies: ["OutboxConfig"], swiftSettings: strict),
        .testTarget(name: "OutboxSMTPTests", dependencies: ["OutboxSMTP"], swiftSettings: strict),
        .testTarget(
            name: "OutboxSubmitTests", dependencies: ["OutboxSubmit"],
            resources: [.copy("Fixtures")], swiftSettings: strict),
        .testTarget(
            name: "IntegrationTests", dependencies: ["OutboxSpool", "OutboxConfig", "OutboxSubmit"],
            resources: [.copy("Fixtures")], swiftSettings: strict),
    ]
)
