import ArchiveCore
import ArgumentParser

/// `s3-archive`: one session directory → one uncompressed pax tar on stdout, and its index.
public struct ArchiveCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "s3-archive",
        abstract: "Write a session directory as one uncompressed POSIX tar, with an index of every file.",
        discussion: "The tar goes to standard output (never a terminal) or -o FILE; every entry is under NAME/.")

    @Option(name: .long, help: ArgumentHelp("Top folder inside the archive. Default: the directory's name.", valueName: "id"))
    var name: String?

    @Option(name: .long, help: ArgumentHelp("Write the index (JSON: per-file SHA-256 and offset) to FILE once the tar is complete.", valueName: "file"))
    var index: String?

    @Option(name: .long, help: ArgumentHelp("Leave out paths matching GLOB (the relative path or the file name). Repeatable.", valueName: "glob"))
    var exclude: [String] = []

    @Option(name: [.customShort("o"), .long], help: ArgumentHelp("Write the tar to FILE instead of standard output.", valueName: "file"))
    var output: String?

    @Argument(help: ArgumentHelp("The session directory.", valueName: "dir"))
    var directory: String

    public init() {}

    public func run() throws {
        let request = ArchiveRequest(directory: directory, name: name, indexPath: index, excludes: exclude, outputPath: output)
        try runReporting("s3-archive") {
            try makeArchive(request) { warn("s3-archive", $0) }
        }
    }
}
