// swift-tools-version:6.0
// libFuzzer targets for outbox's parsers. Built only by Tests/Scripts/fuzz.sh (make fuzz,
// and a short run in make check) with AddressSanitizer and libFuzzer's coverage
// instrumentation. SwiftPM gives each executable its own main, so each links libFuzzer
// without main and calls its driver (LLVMFuzzerRunDriver) itself.
import PackageDescription

let targets = ["FuzzArguments", "FuzzHeaders", "FuzzRecords", "FuzzSMTPReply", "FuzzConfig", "FuzzSMTPServer", "FuzzTokenEndpoint"]

let package = Package(
    name: "outbox-fuzz",
    products: targets.map { .executable(name: $0, targets: [$0]) },
    dependencies: [.package(name: "outbox", path: "..")],
    targets: [.target(name: "FuzzSupport", swiftSettings: [.swiftLanguageMode(.v6)])]
        + targets.map {
            .executableTarget(
                name: $0, dependencies: ["FuzzSupport", .product(name: "OutboxParsers", package: "outbox")],
                swiftSettings: [.swiftLanguageMode(.v6)])
        }
)
