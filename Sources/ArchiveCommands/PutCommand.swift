import ArchiveCore
import ArgumentParser

/// `s3-put`: streaming, parallel, verified upload of standard input or files; one record per object on stdout.
public struct PutCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "s3-put",
        abstract: "Upload standard input or files to S3 (or a file:// store), verified by ETag.",
        usage: "s3-put [options] DEST < STREAM\ns3-put [options] FILE... DEST",
        discussion: "Prints one JSON record per stored object on standard output (see s3-records(5)).")

    @Option(name: .long, help: ArgumentHelp("Part size for multipart uploads (5MiB to 5GiB). Default 16MiB.", valueName: "size"))
    var partSize: Size?

    @Option(name: .long, help: "Parts sent at once. Default 4.")
    var concurrency = 4

    @Option(name: .long, help: ArgumentHelp("Files up to this size go in one PUT. Default: the part size.", valueName: "size"))
    var multipartThreshold: Size?

    @Option(name: .long, help: ArgumentHelp("STANDARD, STANDARD_IA, ONEZONE_IA, INTELLIGENT_TIERING, GLACIER_IR, GLACIER or DEEP_ARCHIVE.", valueName: "class"))
    var storageClass: String?

    @Option(name: .long, help: ArgumentHelp("Content-Type of the objects. Default: from the file extension.", valueName: "type"))
    var contentType: String?

    @Option(name: .long, help: ArgumentHelp("The index s3-archive wrote for this archive: checked against the stream and stored beside it as KEY.index.json.", valueName: "file"))
    var index: String?

    @Flag(name: .long, help: "Print nothing but errors on stderr.")
    var quiet = false

    @OptionGroup var s3: S3Options

    @Argument(help: ArgumentHelp("Files to upload ('-' is standard input), then the destination s3://BUCKET/KEY or file:///PATH.", valueName: "file-or-dest"))
    var arguments: [String] = []

    public init() {}

    static let storageClasses = ["STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING",
                                 "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"]

    public func validate() throws {
        guard !arguments.isEmpty else { throw ValidationError("missing destination: s3-put [FILE...] s3://BUCKET/KEY") }
        if let size = partSize?.bytes, !(5 << 20 ... 5 << 30).contains(size) {
            throw ValidationError("--part-size must be between 5MiB and 5GiB (S3's limits)")
        }
        guard (1...64).contains(concurrency) else { throw ValidationError("--concurrency must be between 1 and 64") }
        if let storageClass, !Self.storageClasses.contains(storageClass) {
            throw ValidationError("unknown storage class '\(storageClass)': use one of \(Self.storageClasses.joined(separator: ", "))")
        }
    }

    public func run() throws {
        var upload = UploadOptions()
        upload.partSize = partSize?.bytes ?? upload.partSize
        upload.concurrency = concurrency
        upload.multipartThreshold = multipartThreshold?.bytes
        upload.object = ObjectOptions(storageClass: storageClass, contentType: contentType)
        let request = PutRequest(sources: Array(arguments.dropLast()), destination: arguments.last!,
                                 upload: upload, s3: s3.overrides, indexPath: index)
        try runReporting("s3-put") {
            try put(request) { emitLine($0.jsonLine()) }
        }
    }
}
