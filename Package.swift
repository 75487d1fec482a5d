// swift-tools-version:6.0
import PackageDescription

// The numeric modules (tensors, layers) drop Swift's overflow and bounds traps in release builds
// for speed; FashionData and FashionExperiments (file parsing, data plumbing, bookkeeping) keep
// them: there a wrapped integer is a wrong result, not a lost nanosecond.
let unsafeFlags: [SwiftSetting] = [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]

let package = Package(
    name: "FashionBench",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "fashionbench", targets: ["fashionbench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/yaslab/CSV.swift", from: "2.5.2"),
    ],
    targets: [
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS"),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        .systemLibrary(name: "COpenSSL", path: "Sources/COpenSSL"),
        .target(name: "CHDF5",
                cSettings: [.unsafeFlags(["-I/usr/include/hdf5/serial"])],
                linkerSettings: [.linkedLibrary("hdf5_serial"), .unsafeFlags(["-L/usr/lib/x86_64-linux-gnu/hdf5/serial"])]),
        // JPEG and PNG decoding through Debian's libjpeg-turbo and libpng.
        .target(name: "CImageCodecs", linkerSettings: [.linkedLibrary("jpeg"), .linkedLibrary("png")]),
        // Direct convolution kernels, compiled for AVX-512 and AVX2 and chosen at run time.
        .target(name: "CKernels"),
        .target(name: "FashionTensor", dependencies: ["CBLAS"], swiftSettings: unsafeFlags),
        .target(name: "FashionStats"),
        .target(name: "FashionConfig", dependencies: ["Yams"]),
        .target(name: "FashionNN", dependencies: ["FashionTensor", "FashionConfig", "CKernels"], swiftSettings: unsafeFlags),
        .target(name: "FashionData", dependencies: [
            "FashionTensor", "FashionConfig", "CZlib", "COpenSSL", "CImageCodecs", .product(name: "CSV", package: "CSV.swift"),
        ]),
        .target(name: "FashionReports", dependencies: ["FashionConfig", "FashionStats", "CHDF5", "CZlib"],
                swiftSettings: [.unsafeFlags(["-Xcc", "-I/usr/include/hdf5/serial"])]),
        .target(name: "FashionExperiments", dependencies: [
            "FashionTensor", "FashionConfig", "FashionNN", "FashionData", "FashionReports", "FashionStats", "Yams",
            .product(name: "CSV", package: "CSV.swift"),
        ]),
        .executableTarget(name: "fashionbench", dependencies: [
            "FashionExperiments", "FashionNN", "FashionConfig", "Yams", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "FashionBenchTests", dependencies: [
            "CKernels", "FashionTensor", "FashionConfig", "FashionNN", "FashionData", "FashionExperiments", "FashionReports", "FashionStats",
        ], resources: [.copy("Fixtures")]),
    ],
    swiftLanguageModes: [.v5]
)
