import ArchiveCore
import ArgumentParser
import Foundation

/// `s3-lifecycle`: check, apply and show bucket lifecycle policies (the files in lifecycle/).
public struct LifecycleCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "s3-lifecycle",
        abstract: "Check, apply and show bucket lifecycle policies (Glacier, Deep Archive, aborting stale uploads); tell whether a bucket has Object Lock.",
        subcommands: [Check.self, Apply.self, Show.self, Lock.self])

    public init() {}

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check policy files against S3's rules, locally; one message per problem.")
        @Argument(help: ArgumentHelp("Lifecycle JSON files ({\"Rules\": [...]}), or names of the policies shipped with the tools (default).", valueName: "file")) var files: [String]

        func run() throws {
            try runReporting("s3-lifecycle") {
                var worst = ExitStatus.ok
                for file in files {
                    do {
                        let policy = try Lifecycle.check(file)
                        emitLine("\(file): OK (\(policy.rules.count) rule\(policy.rules.count == 1 ? "" : "s"))")
                    } catch let error as ReportableError {
                        for line in error.description.split(separator: "\n") { warn("s3-lifecycle", String(line)) }
                        if worst == .ok || error.exitStatus != .dataError { worst = error.exitStatus }
                    }
                }
                if worst != .ok { throw ExitCode(worst.rawValue) }
            }
        }
    }

    struct Apply: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check FILE, put it on BUCKET, read it back and compare.")
        @OptionGroup var s3: S3Options
        @Argument(help: ArgumentHelp("The bucket (name or s3://name).", valueName: "bucket")) var bucket: String
        @Argument(help: ArgumentHelp("The lifecycle JSON file, or the name of a policy shipped with the tools (default).", valueName: "file")) var file: String

        func run() throws {
            try runReporting("s3-lifecycle") {
                let stored = try Lifecycle.apply(bucket: bucket, path: file, s3: s3.overrides)
                emitLine("s3://\(StorageURL.bucketName(bucket)): applied \(file) (\(stored.rules.count) rule\(stored.rules.count == 1 ? "" : "s"), read back equal)")
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show BUCKET's lifecycle policy, as JSON or a readable table.")
        @Option(name: .long, help: ArgumentHelp("json (the lifecycle file format) or table. Default: table on a terminal, else json.", valueName: "format"))
        var format: String?
        @OptionGroup var s3: S3Options
        @Argument(help: ArgumentHelp("The bucket (name or s3://name).", valueName: "bucket")) var bucket: String

        func validate() throws {
            if let format, !["json", "table"].contains(format) { throw ValidationError("--format is json or table") }
        }

        func run() throws {
            try runReporting("s3-lifecycle") {
                guard let policy = try Lifecycle.show(bucket: bucket, s3: s3.overrides) else {
                    throw Failure.noInput("s3://\(StorageURL.bucketName(bucket)): no lifecycle configuration: apply one with s3-lifecycle apply")
                }
                let table = format == "table" || (format == nil && Terminal.standardOutputIsTerminal)
                StandardOutput.write(table ? Lifecycle.table(policy).render(.table) : policy.json())
            }
        }
    }

    struct Lock: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Tell whether BUCKET has Object Lock (needed by s3-put --retain-until and --legal-hold), and its default retention.")
        @OptionGroup var s3: S3Options
        @Argument(help: ArgumentHelp("The bucket (name or s3://name).", valueName: "bucket")) var bucket: String

        func run() throws {
            try runReporting("s3-lifecycle") {
                emitLine(Lifecycle.lockLine(bucket: bucket, try Lifecycle.lock(bucket: bucket, s3: s3.overrides)))
            }
        }
    }
}
