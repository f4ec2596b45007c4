import ArchiveCore
import ArgumentParser

/// `s3-restore`: files back from archives or per-object prefixes, cold objects thawed first, damaged files healed.
public struct RestoreCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "s3-restore",
        abstract: "Restore files from archives (with their index) or per-object prefixes, verified, into a directory.",
        discussion: "URL is s3://BUCKET/KEY.tar (an archive with KEY.tar.index.json), s3://BUCKET/PREFIX/, or - for s3-put records on standard input. Leaves _download_status_<id>_<time>.txt in the destination.")

    @Option(name: .long, help: ArgumentHelp("Destination directory, created with its parents if missing. Default: the current directory.", valueName: "dir"))
    var to = "."

    @Option(name: .long, help: ArgumentHelp("Glacier retrieval tier: Standard, Bulk or Expedited.", valueName: "tier"))
    var tier = "Standard"

    @Option(name: .long, help: ArgumentHelp("Days a thawed copy stays readable.", valueName: "n"))
    var days = 7

    @Flag(name: .long, help: "Wait for cold objects to thaw instead of exiting 75.")
    var wait = false

    @Option(name: .long, help: ArgumentHelp("With --wait, give up after this long (e.g. 12h, 2d). Default 48h.", valueName: "duration"))
    var timeout: String?

    @Option(name: .long, help: ArgumentHelp("Restore only paths matching GLOB (the archive path, the path within the session, or the name). Repeatable.", valueName: "glob"))
    var include: [String] = []

    @Option(name: .long, help: "Requests in flight at once (ranges of an archive, or objects). Default 4.")
    var concurrency = 4

    @Flag(name: .long, help: "Restore the newest generation of each archive URL given (its first key), not the first; the report's header says which.")
    var latest = false

    @Flag(name: .long, help: "Keep setuid, setgid and sticky bits as the archive records them (dropped by default).")
    var samePermissions = false

    @Option(name: .long, help: ArgumentHelp("Read objects encrypted with your own key (SSE-C): FILE (or fileb://FILE, as aws-cli) holds its 32 bytes; never printed.", valueName: "file"))
    var sseCKey: String?

    @Flag(name: .long, help: "Say what would be fetched or thawed; change nothing.")
    var dryRun = false

    @OptionGroup var s3: S3Options

    @Argument(help: ArgumentHelp("Archives, prefixes, or - for records on standard input.", valueName: "url"))
    var urls: [String] = []

    public init() {}

    public func validate() throws {
        guard !urls.isEmpty else { throw ValidationError("missing URL: s3-restore --to DIR s3://BUCKET/KEY.tar") }
        guard ["Standard", "Bulk", "Expedited"].contains(tier) else { throw ValidationError("--tier is Standard, Bulk or Expedited") }
        guard (1...3650).contains(days) else { throw ValidationError("--days must be between 1 and 3650") }
        guard (1...64).contains(concurrency) else { throw ValidationError("--concurrency must be between 1 and 64") }
        if latest, let other = urls.first(where: { $0 == "-" || $0.hasSuffix("/") }) {
            throw ValidationError("--latest takes archive URLs (the first generation's key), not \(other == "-" ? "records on standard input" : "a prefix (\(other))")")
        }
    }

    public func run() throws {
        try runReporting("s3-restore") {
            var request = RestoreRequest(urls: urls, destination: to, s3: s3.overrides)
            request.tier = tier
            request.days = days
            request.wait = wait
            if let timeout { request.timeout = try DurationText.parse(timeout) }
            request.includes = include
            request.dryRun = dryRun
            request.concurrency = concurrency
            request.latest = latest
            request.samePermissions = samePermissions
            request.customerKeyFile = sseCKey
            // A dry run fetches nothing: its messages are the whole output.
            let progress = dryRun ? nil : TransferProgress.onTerminal(label: "s3-restore", counting: "files")
            request.progress = progress
            defer { progress?.finish() }
            let say: @Sendable (String) -> Void = { warn("s3-restore", $0) }
            // An interrupted restore leaves no temporary file behind: the real names hold only checked files.
            let signals = SignalGuard { _ in TemporaryFiles.removeAll() }
            defer { signals.cancel() }
            let outcome = try restore(request, readRecords: { try RecordReader.read(paths: []) },
                                      warn: progress?.clearingLine(around: say) ?? say)
            if outcome.exitStatus != .ok {
                if outcome.failedFiles > 0 { warn("s3-restore", "\(outcome.failedFiles) file(s) failed: see \(outcome.reports.joined(separator: ", "))") }
                throw ExitCode(outcome.exitStatus.rawValue)
            }
        }
    }
}
