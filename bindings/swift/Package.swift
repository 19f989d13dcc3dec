// swift-tools-version:5.9
// The Outpost Swift package: the generated bindings (Sources/Outpost/Outpost.swift, committed), a
// thin hand-written layer (Sources/Outpost/OutpostClient+Swift.swift) and the Rust library as the
// binary target OutpostFFI. OutpostFFI.xcframework is built by bindings/scripts/build-ios.sh and
// is not committed (see README.md).
import PackageDescription

let package = Package(
    name: "Outpost",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [
        .library(name: "Outpost", targets: ["Outpost"]),
    ],
    targets: [
        // Static libraries for iOS devices, iOS simulators (arm64 + x86_64) and macOS (arm64 +
        // x86_64, for `swift test` and macOS apps), with OutpostFFI.h and its module map.
        .binaryTarget(name: "OutpostFFI", path: "OutpostFFI.xcframework"),
        .target(
            name: "Outpost",
            dependencies: ["OutpostFFI"],
            path: "Sources/Outpost",
            // What the Rust static library needs from the system: Security and CoreFoundation
            // (TLS certificate verification through rustls-platform-verifier; SQLCipher's
            // CommonCrypto backend), iconv (Rust's libc). build-ios.sh prints rustc's own list
            // (native-static-libs) when it rebuilds: keep the two in step.
            linkerSettings: [
                .linkedFramework("Security"),
                .linkedFramework("CoreFoundation"),
                .linkedLibrary("iconv"),
            ]
        ),
        // Needs the emulator: OUTPOST_EMULATOR_URL=http://127.0.0.1:5155 (skipped when unset).
        .testTarget(
            name: "OutpostTests",
            dependencies: ["Outpost"],
            path: "Tests/OutpostTests"
        ),
    ],
    swiftLanguageVersions: [.v5]
)
