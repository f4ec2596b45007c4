import ArchiveCore
import ArgumentParser

/// `s3-etag`: the ETag S3 reports for a file, for any part size; or which part size gives a known ETag or object.
public struct ETagCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "s3-etag",
        abstract: "Print or check the ETag S3 reports for files, for any part size.",
        discussion: "Prints 'ETAG  NAME' per file, as md5sum does. '-' or no FILE reads standard input.")

    @Option(name: .long, help: ArgumentHelp("Part size of the upload (8MiB, 16M, 5368709120).", valueName: "size"))
    var partSize: Size?

    @Option(name: .long, help: ArgumentHelp("The part size doubled every N parts (s3-put's layout for standard input; the record's part_size_doubling_every).", valueName: "n"))
    var doublingEvery: Int?

    @Option(name: .long, help: ArgumentHelp("Exit 0 only if the file's bytes give this ETag for some part size; the part size is inferred. Given an object's URL (s3://bucket/key), its ETag and part size are asked of the store.", valueName: "etag|url"))
    var match: String?

    @Option(name: [.customShort("c"), .long], help: ArgumentHelp("Check the 'ETAG  NAME' lines of LIST, as md5sum -c does.", valueName: "list"))
    var check: String?

    @Flag(name: .long, help: "With --match or -c, print nothing for files that are OK.")
    var quiet = false

    @OptionGroup var s3: S3Options

    @Argument(help: ArgumentHelp("Files to hash; '-' is standard input.", valueName: "file"))
    var files: [String] = []

    public init() {}

    public func validate() throws {
        if match != nil, check != nil { throw ValidationError("--match and -c cannot be used together") }
        if check != nil, !files.isEmpty { throw ValidationError("-c reads the files named in LIST: give no FILE") }
        if let size = partSize?.bytes, size < 1 { throw ValidationError("--part-size must be at least 1 byte") }
        if let n = doublingEvery, n < 1 { throw ValidationError("--doubling-every must be at least 1") }
        if doublingEvery != nil, match != nil || check != nil { throw ValidationError("--doubling-every only applies to printing ETags") }
    }

    public func run() throws {
        let size = partSize?.bytes ?? 8 << 20
        let request: ETagRequest
        if let check { request = .check(list: check, partSize: size) }
        else if let match { request = .match(etag: match, files: files, partSize: size, s3: s3.overrides) }
        else { request = .print(files: files, partSize: size, doublingEvery: doublingEvery) }
        try runReporting("s3-etag") {
            let status = runETag(request, quiet: quiet, output: emitLine, warn: { warn("s3-etag", $0) })
            if status != .ok { throw ExitCode(status.rawValue) }
        }
    }
}
