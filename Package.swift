// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "s3-archive",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "s3-etag", targets: ["s3-etag"]),
        .executable(name: "s3-put", targets: ["s3-put"]),
        .executable(name: "s3-archive", targets: ["s3-archive"]),
        .executable(name: "s3-restore", targets: ["s3-restore"]),
        .executable(name: "s3-verify", targets: ["s3-verify"]),
        .executable(name: "s3-report", targets: ["s3-report"]),
        .executable(name: "s3-lifecycle", targets: ["s3-lifecycle"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
    ],
    targets: [
        // C libraries, each reached through one module map and wrapped once in ArchiveCore.
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl",
                       providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl",
                       providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CArchive", pkgConfig: "libarchive",
                       providers: [.apt(["libarchive-dev"])]),
        // What Swift cannot call directly: curl_easy_setopt/getinfo are variadic.
        .target(name: "CShims", dependencies: ["CCurl"]),

        .target(name: "ArchiveCore", dependencies: [
            "CCurl", "COpenSSL", "CArchive", "CShims",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "SystemPackage", package: "swift-system"),
        ]),
        .target(name: "ArchiveCommands", dependencies: [
            "ArchiveCore",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "s3-etag", dependencies: ["ArchiveCommands"]),
        .executableTarget(name: "s3-put", dependencies: ["ArchiveCommands"]),
        .executableTarget(name: "s3-archive", dependencies: ["ArchiveCommands"]),
        .executableTarget(name: "s3-restore", dependencies: ["ArchiveCommands"]),
        .executableTarget(name: "s3-verify", dependencies: ["ArchiveCommands"]),
        .executableTarget(name: "s3-report", dependencies: ["ArchiveCommands"]),
        .executableTarget(name: "s3-lifecycle", dependencies: ["ArchiveCommands"]),

        // Fixtures (the AWS SigV4 vectors) are read in place from the checkout, relative to the test's source.
        .testTarget(name: "ArchiveCoreTests", dependencies: ["ArchiveCore"], exclude: ["Fixtures"]),
        .testTarget(name: "EndToEndTests", dependencies: ["ArchiveCore"]),
    ],
    swiftLanguageModes: [.v6]
)
