import ArchiveCore
import ArgumentParser
import Foundation

/// `s3-report`: what is backed up, what is not, what changed, what it costs — from the catalog.
public struct ReportCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "s3-report",
        abstract: "Report from the catalog: status, sessions backed up or not, the log, cost, size analysis; rebuild or refresh it from the store.",
        subcommands: [Status.self, Sessions.self, Log.self, Cost.self, Analyze.self, Rebuild.self, Refresh.self],
        defaultSubcommand: Status.self)

    public init() {}

    /// How tables come out: aligned on a terminal, or tsv/json/names for scripts.
    struct Output: ParsableArguments {
        @Option(name: .long, help: ArgumentHelp("table (default on a terminal), tsv (default otherwise), json (JSON Lines) or names.", valueName: "format"))
        var format: String?

        @OptionGroup var catalog: CatalogOptions

        func validate() throws {
            if let format, Table.Format(rawValue: format) == nil {
                throw ValidationError("--format is table, tsv, json or names")
            }
        }

        func print(_ tables: [Table]) {
            let chosen = format.flatMap(Table.Format.init) ?? (Terminal.standardOutputIsTerminal ? .table : .tsv)
            let text = tables.map { $0.render(chosen) }.joined(separator: chosen == .table ? "\n" : "")
            StandardOutput.write(text)
        }

        func run(_ view: ReportView) throws {
            try runReporting("s3-report") { print(try report(view, catalogPath: catalog.path)) }
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stored objects and archives by class and year, the last batch, uploads in progress, last verifications.")
        @OptionGroup var output: Output
        func run() throws { try output.run(.status) }
    }

    struct Sessions: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Every session under ROOT (ROOT/SESSION or ROOT/YEAR/SESSION): files, bytes, year, state (backed up, pruned, changed, not backed up), the newest archive and its number of generations.")
        @Option(name: .long, help: "Only sessions of this year.") var year: String?
        @Flag(name: .long, help: "Only sessions with no backup.") var notBackedUp = false
        @Flag(name: .long, help: "Only sessions changed since their backup.") var changed = false
        @Flag(name: .long, help: "Only sessions backed up and unchanged.") var backedUp = false
        @Flag(name: .long, help: "Only sessions whose files were only removed since their backup (nothing to do).") var pruned = false
        @Option(name: .long, help: ArgumentHelp("Leave out files matching GLOB, as s3-archive --exclude does (repeatable).", valueName: "glob"))
        var exclude: [String] = []
        @OptionGroup var output: Output
        @Argument(help: ArgumentHelp("The folder holding the sessions.", valueName: "root")) var root: String

        func validate() throws {
            if [notBackedUp, changed, backedUp, pruned].filter({ $0 }).count > 1 {
                throw ValidationError("choose one of --not-backed-up, --changed, --backed-up, --pruned")
            }
        }

        func run() throws {
            let only: SessionState? = notBackedUp ? .notBackedUp : changed ? .changed : backedUp ? .backedUp
                : pruned ? .pruned : nil
            try output.run(.sessions(root: root, year: year, only: only, excluding: exclude))
        }
    }

    struct Log: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The operations log.")
        @Option(name: .long, help: ArgumentHelp("Only the last DURATION (24h, 7d).", valueName: "duration")) var since: String?
        @Flag(name: .long, help: "Only failed operations.") var failed = false
        @OptionGroup var output: Output
        func run() throws {
            try runReporting("s3-report") {
                let window = try since.map { try DurationText.parse($0) }
                output.print(try report(.log(since: window, failedOnly: failed), catalogPath: output.catalog.path))
            }
        }
    }

    struct Cost: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Monthly storage cost by class, and a first-year estimate under each lifecycle policy.")
        @Option(name: .long, help: ArgumentHelp("Pricing table (JSON). Default: $S3_ARCHIVE_PRICING, else the installed share/s3-archive/pricing.json, else built-in us-east-1 prices.", valueName: "file"))
        var pricing: String?
        @Option(name: .long, help: "Region whose prices apply. Default: AWS_REGION, else us-east-1.") var region: String?
        @Option(name: .long, help: ArgumentHelp("Price this many bytes (827GB) instead of what the catalog holds.", valueName: "size"))
        var size: String?
        @OptionGroup var output: Output
        func run() throws {
            try runReporting("s3-report") {
                let bytes = try size.map { try DecimalSize.parse($0) }
                let region = S3Configuration.region(self.region, environment: ProcessInfo.processInfo.environment)
                output.print(try report(.cost(pricingPath: pricing, region: region, bytes: bytes),
                                        catalogPath: bytes == nil ? output.catalog.path : nil))
            }
        }
    }

    struct Analyze: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Before a first backup: per year, sessions, files, total and average size, and the upload time.")
        @Option(name: .long, help: ArgumentHelp("Upload bandwidth (100MiB = per second). Default: measured from the log.", valueName: "rate"))
        var bandwidth: String?
        @OptionGroup var output: Output
        @Argument(help: ArgumentHelp("The folder holding the sessions.", valueName: "root")) var root: String
        func run() throws {
            try runReporting("s3-report") {
                let rate = try bandwidth.map { try ByteSize.parse($0) }
                output.print(try report(.analyze(root: root, bandwidth: rate), catalogPath: output.catalog.path))
            }
        }
    }

    struct Rebuild: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recreate the catalog's archives, sessions and their files from the archives and indexes under URL (merges; exit 1 if an index was bad).")
        @Option(name: .long, help: "Archives read at once (requests in flight). Default 8.") var concurrency = 8
        @Option(name: .long, help: ArgumentHelp("Where the sessions are now: an archive made from another directory is matched with ROOT's session of the same year folder and name.", valueName: "root"))
        var root: String?
        @OptionGroup var output: Output
        @OptionGroup var s3: S3Options
        @Argument(help: ArgumentHelp("s3://BUCKET/PREFIX or file:///PATH holding the archives.", valueName: "url")) var url: String

        func validate() throws {
            guard (1...64).contains(concurrency) else { throw ValidationError("--concurrency must be between 1 and 64") }
            if output.catalog.noCatalog { throw ValidationError("rebuild writes the catalog: drop --no-catalog") }
        }

        func run() throws {
            var skipped = 0
            try runReporting("s3-report") {
                var request = RebuildRequest(url: url, catalogPath: output.catalog.path ?? Catalog.defaultPath(), s3: s3.overrides)
                request.concurrency = concurrency
                request.root = root
                let summary = try rebuildCatalog(request, warn: { warn("s3-report", $0) })
                skipped = summary.skipped
                output.print([summary.table])
            }
            if skipped > 0 { throw ExitCode(ExitStatus.checkFailed.rawValue) }
        }
    }

    struct Refresh: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Bring the catalog's storage classes and restore states up to date from the store (a listing, and a HEAD of each cold object); prints what changed.")
        @Option(name: .long, help: "Cold objects asked at once (requests in flight). Default 8.") var concurrency = 8
        @OptionGroup var output: Output
        @OptionGroup var s3: S3Options
        @Argument(help: ArgumentHelp("Only the objects under s3://BUCKET/PREFIX or file:///PATH. Default: all the catalog holds.", valueName: "url"))
        var url: String?

        func validate() throws {
            guard (1...64).contains(concurrency) else { throw ValidationError("--concurrency must be between 1 and 64") }
            if output.catalog.noCatalog { throw ValidationError("refresh writes the catalog: drop --no-catalog") }
        }

        func run() throws {
            var problems = 0
            try runReporting("s3-report") {
                var request = RefreshRequest(url: url, catalogPath: output.catalog.path ?? Catalog.defaultPath(), s3: s3.overrides)
                request.concurrency = concurrency
                let summary = try refreshCatalog(request, warn: { warn("s3-report", $0) })
                problems = summary.problems
                output.print([summary.table])
            }
            if problems > 0 { throw ExitCode(ExitStatus.checkFailed.rawValue) }
        }
    }
}
