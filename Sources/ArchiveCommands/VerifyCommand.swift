import ArchiveCore
import ArgumentParser

/// `s3-verify`: proof that stored objects are what the records say, shallow (HEAD) or deep (read back).
public struct VerifyCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "s3-verify",
        abstract: "Check stored objects against s3-put records (HEAD, or --deep: read back and hash), or against local data.",
        usage: """
            s3-verify [--deep] [RECORDS...]     (records on standard input by default)
            s3-verify URL --against PATH
            """,
        discussion: "Prints 'OK url' or 'FAILED url: reason' per object; exits 1 if any failed.")

    @Flag(name: .long, help: "Read each object back: recompute its ETag, and for an archive every file's SHA-256 and the archive's.")
    var deep = false

    @Option(name: .long, help: ArgumentHelp("Compare the URL (an object or a prefix) with this local file or directory.", valueName: "path"))
    var against: String?

    @Option(name: .long, help: "Objects checked at once (requests in flight). Default 8.")
    var concurrency = 8

    @Option(name: .long, help: ArgumentHelp("Read objects encrypted with your own key (SSE-C): FILE (or fileb://FILE, as aws-cli) holds its 32 bytes; never printed.", valueName: "file"))
    var sseCKey: String?

    @OptionGroup var catalog: CatalogOptions
    @OptionGroup var s3: S3Options

    @Argument(help: ArgumentHelp("Record files (JSON Lines), or with --against one URL.", valueName: "records-or-url"))
    var arguments: [String] = []

    public init() {}

    public func validate() throws {
        guard (1...64).contains(concurrency) else { throw ValidationError("--concurrency must be between 1 and 64") }
        if against != nil, arguments.count != 1 { throw ValidationError("--against PATH compares one URL: s3-verify s3://BUCKET/KEY --against PATH") }
    }

    public func run() throws {
        var status = ExitStatus.ok
        try runReporting("s3-verify") {
            var request = VerifyRequest(s3: s3.overrides)
            request.deep = deep
            request.concurrency = concurrency
            request.catalogPath = catalog.path
            request.customerKeyFile = sseCKey
            if let against {
                request.url = arguments[0]
                request.against = against
            } else {
                request.recordPaths = arguments
            }
            // Only a deep check reads enough to be worth a progress line.
            let progress = deep && against == nil ? TransferProgress.onTerminal(label: "s3-verify", counting: "objects") : nil
            request.progress = progress
            defer { progress?.finish() }
            let say: @Sendable (String) -> Void = { warn("s3-verify", $0) }
            // A record line on the terminal the progress is drawn on clears it first; the line itself is unchanged.
            let sharesTerminal = progress != nil && Terminal.standardOutputIsTerminal
            func output(_ line: String) {
                if sharesTerminal, let progress { progress.clearingLine { emitLine(line) } } else { emitLine(line) }
            }
            status = try verify(request, output: output, warn: progress?.clearingLine(around: say) ?? say)
        }
        if status != .ok { throw ExitCode(status.rawValue) }
    }
}
