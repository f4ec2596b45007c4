import ArchiveCore
import ArgumentParser
import Foundation

/// Where S3 is and as whom to talk to it; flags override the AWS environment and profile.
struct S3Options: ParsableArguments {
    @Option(name: .long, help: "S3 endpoint, e.g. http://127.0.0.1:8333 (path-style). Default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, the profile, else AWS.")
    var endpointURL: String?

    @Option(name: .long, help: "Region to sign for. Default: AWS_REGION, AWS_DEFAULT_REGION, the profile, else us-east-1.")
    var region: String?

    @Option(name: .long, help: "Profile in ~/.aws/credentials and ~/.aws/config. Default: AWS_PROFILE, else 'default'.")
    var profile: String?

    var overrides: S3Configuration.Overrides {
        S3Configuration.Overrides(endpointURL: endpointURL, region: region, profile: profile)
    }
}

/// Where the catalog is: `--catalog PATH`, `$S3_ARCHIVE_CATALOG`, `$XDG_DATA_HOME/s3-archive/catalog.sqlite`.
struct CatalogOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The catalog (SQLite). Default: $S3_ARCHIVE_CATALOG, else $XDG_DATA_HOME/s3-archive/catalog.sqlite.", valueName: "path"))
    var catalog: String?

    @Flag(name: .long, help: "Neither read nor write the catalog.")
    var noCatalog = false

    /// Nil when the catalog is switched off.
    var path: String? { noCatalog ? nil : (catalog ?? Catalog.defaultPath()) }
}

/// A size option value: `8MiB`, `8M`, `8388608`.
struct Size: ExpressibleByArgument {
    let bytes: Int
    init?(argument: String) {
        guard let bytes = try? ByteSize.parse(argument) else { return nil }
        self.bytes = bytes
    }
}

/// Prints one line to stderr, prefixed with the tool's name.
func warn(_ tool: String, _ message: String) {
    FileHandle.standardError.write(Data("\(tool): \(message)\n".utf8))
}

/// Runs a tool's body and turns its errors into a message and an exit status.
func runReporting(_ tool: String, _ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as ReportableError {
        warn(tool, error.description)
        throw ExitCode(error.exitStatus.rawValue)
    }
}

/// Writes a line to stdout now: records must reach the next tool in the pipe as soon as they exist.
func emitLine(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
