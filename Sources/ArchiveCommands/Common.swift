import ArchiveCore
import ArgumentParser
import Foundation
import Synchronization

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

/// Prints one line to stderr, prefixed with the tool's name. A failing stderr is ignored: there is nowhere left
/// to say so, and the exit status still tells.
func warn(_ tool: String, _ message: String) {
    try? FileHandle.standardError.write(contentsOf: Data("\(tool): \(message)\n".utf8))
}

/// Runs a tool's body, once OpenSSL is known to hash, and turns its errors into a message and an exit status: a
/// `ReportableError` says its own, anything else (GRDB, Foundation: never expected) is an internal error, exit
/// 70, and a failed write to standard output is exit 74 unless the body chose its own status (`ExitCode`).
func runReporting(_ tool: String, _ body: () throws -> Void) throws {
    do {
        try Digest.checkAvailable()
        try body()
        try StandardOutput.checkWritten()
    } catch where CatalogBusy.recognizing(error) != nil {
        // SQLite's busy error surfaces from whichever write met it: every tool says it the same way.
        warn(tool, CatalogBusy.recognizing(error)!.description)
        throw ExitCode(ExitStatus.ioError.rawValue)
    } catch let error as ReportableError {
        warn(tool, error.description)
        if let lost = StandardOutput.failure, lost.description != error.description { warn(tool, lost.description) }
        throw ExitCode(error.exitStatus.rawValue)
    } catch let exit as ExitCode {
        // The body chose its status (a check failed); a lost record must still be said.
        if let failure = StandardOutput.failure { warn(tool, failure.description) }
        throw exit
    } catch let error where error is CleanExit || error is ValidationError {
        throw error
    } catch {
        warn(tool, internalErrorMessage(error))
        throw ExitCode(ExitStatus.software.rawValue)
    }
}

/// One line for an error no part of the toolkit describes: its type names the library, then what failed.
func internalErrorMessage(_ error: Error) -> String {
    "internal error (\(String(reflecting: Swift.type(of: error)))): \(Failure.describing(error)): please report this line"
}

/// Writes a line to stdout now: records must reach the next tool in the pipe as soon as they exist.
func emitLine(_ line: String) {
    StandardOutput.write(line + "\n")
}

/// Standard output as the tools write records and reports to it. A write is checked; the first failure (a full
/// disk, a closed descriptor) is kept, nothing more is written, and the run ends with exit 74 once its work is
/// done: the work itself (uploads, the catalog) is not abandoned half way because its record could not be printed.
enum StandardOutput {
    private static let firstFailure = Mutex<Failure?>(nil)

    static func write(_ text: String) {
        guard failure == nil else { return }
        do {
            try FileHandle.standardOutput.write(contentsOf: Data(text.utf8))
        } catch {
            let lost = Failure.io("cannot write to standard output (\(Failure.describing(error))): what this run printed is incomplete; make room where it goes, or send it elsewhere")
            firstFailure.withLock { $0 = $0 ?? lost }
        }
    }

    static var failure: Failure? { firstFailure.withLock { $0 } }

    static func checkWritten() throws {
        if let failure { throw failure }
    }
}
