import ArchiveCore
import ArgumentParser
import SystemPackage

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

    /// Whether the tar goes to a file (-o FILE, or `> FILE`): only then is progress drawn (on a terminal). A tar
    /// piped on (to s3-put, pv, ssh) stays silent, as GNU tar does: whoever reads the pipe shows the progress
    /// (s3-put draws its own, pv is there for it), on the same terminal, and two programs drawing one line
    /// garble it. Standard output is never the terminal itself: a tar there is refused.
    var toFile: Bool {
        output != nil || (try? FileStatus.of(FileDescriptor.standardOutput))?.kind == .file
    }

    public func run() throws {
        // The folder and its name as given, byte for byte: a session folder may be named in Latin-1.
        var request = ArchiveRequest(directory: FilePath(bytes: ArgumentBytes.of(directory)),
                                     name: name.map { ArchivePath(bytes: ArgumentBytes.of($0)) },
                                     indexPath: index, excludes: exclude, outputPath: output)
        let progress = toFile ? TransferProgress.onTerminal(label: "s3-archive", counting: "files") : nil
        request.progress = progress
        let say: @Sendable (String) -> Void = { warn("s3-archive", $0) }
        try runReporting("s3-archive") {
            // Cleared before runReporting says why the run failed.
            defer { progress?.finish() }
            try makeArchive(request, warn: progress?.clearingLine(around: say) ?? say)
        }
    }
}
