import ArchiveCore
import ArgumentParser
import Foundation

extension ChecksumAlgorithm: ExpressibleByArgument {}

/// `s3-put`: streaming, parallel, verified, resumable upload of standard input or files; one record per object.
public struct PutCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "s3-put",
        abstract: "Upload standard input or files to S3 (or a file:// store), verified by ETag.",
        usage: """
            s3-put [options] DEST < STREAM
            s3-put [options] FILE... DEST
            s3-put --list-stale URL | --abort-stale AGE URL
            """,
        discussion: "Prints one JSON record per stored object on standard output (see s3-records(5)). DEST may hold {year}, {month}, {day}, {session} and {name}.")

    @Option(name: .long, help: ArgumentHelp("Part size for multipart uploads (5MiB to 5GiB). Default 16MiB.", valueName: "size"))
    var partSize: Size?

    @Option(name: .long, help: "Requests in flight at once (parts, and objects of several files). Default 4 parts, 16 objects.")
    var concurrency: Int?

    @Option(name: .long, help: ArgumentHelp("Memory for parts in flight; a larger part is spooled to an unnamed temporary file in $TMPDIR. Default 1GiB.", valueName: "size"))
    var memory: Size?

    @Option(name: .long, help: ArgumentHelp("Files up to this size go in one PUT. Default: the part size.", valueName: "size"))
    var multipartThreshold: Size?

    @Option(name: .long, help: ArgumentHelp("STANDARD, STANDARD_IA, ONEZONE_IA, INTELLIGENT_TIERING, GLACIER_IR, GLACIER or DEEP_ARCHIVE.", valueName: "class"))
    var storageClass: String?

    @Option(name: .long, help: ArgumentHelp("Object tag KEY=VALUE (repeatable); lifecycle rules select on tags.", valueName: "key=value"))
    var tag: [String] = []

    @Option(name: .long, help: ArgumentHelp("User metadata KEY=VALUE (repeatable), stored as x-amz-meta-KEY.", valueName: "key=value"))
    var metadata: [String] = []

    @Option(name: .long, help: ArgumentHelp("Content-Type of the objects. Default: from the name's extension.", valueName: "type"))
    var contentType: String?

    @Option(name: .long, help: ArgumentHelp("Server-side encryption: AES256 or aws:kms.", valueName: "mode"))
    var sse: String?

    @Option(name: .long, help: ArgumentHelp("KMS key for --sse aws:kms.", valueName: "id"))
    var sseKmsKeyId: String?

    @Option(name: .long, help: ArgumentHelp("Encrypt with your own key (SSE-C): FILE (or fileb://FILE, as aws-cli) holds its 32 bytes; never printed or stored.", valueName: "file"))
    var sseCKey: String?

    /// The option's earlier name, still accepted.
    @Option(name: .long, help: .hidden)
    var sseCKeyFile: String?

    @Option(name: .long, help: ArgumentHelp("Object Lock: keep the objects (and the index) undeletable until DATE (2031-12-31, 2031-12-31T00:00:00Z) or for a period from now (30d, 12w, 18mo, 7y). Needs --retention-mode.", valueName: "date|period"))
    var retainUntil: String?

    @Option(name: .long, help: ArgumentHelp("GOVERNANCE (can be lifted with s3:BypassGovernanceRetention) or COMPLIANCE (by nobody).", valueName: "mode"))
    var retentionMode: String?

    @Flag(name: .long, help: "Object Lock: put a legal hold on the objects (and the index), until someone lifts it.")
    var legalHold = false

    @Option(name: .long, help: ArgumentHelp("The whole-object checksum S3 checks and keeps: crc64nvme or none. Default crc64nvme.", valueName: "algorithm"))
    var checksum: ChecksumAlgorithm = .crc64nvme

    @Option(name: .long, help: ArgumentHelp("Cap the upload rate, e.g. 50MiB (per second, all parts together).", valueName: "rate"))
    var limitRate: Size?

    @Option(name: .long, help: ArgumentHelp("The index s3-archive wrote for this archive: checked against the stream and stored beside it as KEY.index.json.", valueName: "file"))
    var index: String?

    @Option(name: .long, help: ArgumentHelp("Session name for {session} and the key's dates. Default: the file's name without extension.", valueName: "name"))
    var session: String?

    @Flag(name: [.customShort("r"), .long], help: "Upload the regular files under each directory FILE, keeping their relative paths.")
    var recursive = false

    @Flag(name: .long, help: "Overwrite an object with other bytes already at the key. Default: refuse (exit 73) and change nothing.")
    var replace = false

    @Flag(name: .long, help: "Upload even when an identical object (same size and ETag) is already there; implies --replace.")
    var force = false

    @Flag(name: .long, help: "On failure or interrupt, keep the uploaded parts so the same command resumes.")
    var keepParts = false

    @Flag(name: .long, help: "Say what would be uploaded; send nothing.")
    var dryRun = false

    @Option(name: .long, help: ArgumentHelp("List unfinished multipart uploads under s3://BUCKET[/PREFIX].", valueName: "url"))
    var listStale: String?

    @Option(name: .long, help: ArgumentHelp("Abort unfinished multipart uploads older than AGE (7d, 12h) under the URL given.", valueName: "age"))
    var abortStale: String?

    @OptionGroup var catalog: CatalogOptions

    @Flag(name: .long, help: "Print nothing but errors on stderr (no progress).")
    var quiet = false

    @OptionGroup var s3: S3Options

    @Argument(help: ArgumentHelp("Files to upload ('-' is standard input), then the destination s3://BUCKET/KEY or file:///PATH.", valueName: "file-or-dest"))
    var arguments: [String] = []

    public init() {}

    static let storageClasses = ["STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING",
                                 "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"]

    public func validate() throws {
        if listStale == nil, arguments.isEmpty {
            throw ValidationError("missing destination: s3-put [FILE...] s3://BUCKET/KEY")
        }
        if let size = partSize?.bytes, !(5 << 20 ... 5 << 30).contains(size) {
            throw ValidationError("--part-size must be between 5MiB and 5GiB (S3's limits)")
        }
        if let concurrency, !(1...64).contains(concurrency) { throw ValidationError("--concurrency must be between 1 and 64") }
        if let bytes = memory?.bytes, bytes < 5 << 20 { throw ValidationError("--memory must be at least 5MiB (one part)") }
        if let storageClass, !Self.storageClasses.contains(storageClass) {
            throw ValidationError("unknown storage class '\(storageClass)': use one of \(Self.storageClasses.joined(separator: ", "))")
        }
        if let sse, !["AES256", "aws:kms"].contains(sse) { throw ValidationError("--sse is AES256 or aws:kms") }
        if sseKmsKeyId != nil, sse != "aws:kms" { throw ValidationError("--sse-kms-key-id needs --sse aws:kms") }
        if sseCKey != nil, sseCKeyFile != nil { throw ValidationError("--sse-c-key is given twice (once as --sse-c-key-file)") }
        if sseCKey ?? sseCKeyFile != nil, sse != nil { throw ValidationError("--sse-c-key and --sse exclude each other") }
        for pair in tag + metadata where !pair.contains("=") || pair.hasPrefix("=") {
            throw ValidationError("'\(pair)' is not KEY=VALUE")
        }
        if abortStale != nil, arguments.count != 1 { throw ValidationError("--abort-stale AGE takes one URL: s3://BUCKET[/PREFIX]") }
        try validateObjectLock()
    }

    static func pairs(_ items: [String]) -> [(key: String, value: String)] {
        items.map { item in
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
        }
    }

    public func run() throws {
        try runReporting("s3-put") {
            if listStale != nil || abortStale != nil {
                let age = try abortStale.map { try DurationText.parse($0) } ?? 0
                let count = try staleUploads(at: listStale ?? arguments[0], olderThan: age, abort: abortStale != nil,
                                             s3: s3.overrides) { upload, aborted in
                    let stamp = UTC.iso8601(upload.initiated)
                    emitLine("\(stamp)\t\(upload.key)\t\(upload.uploadID)" + (aborted ? "\taborted" : ""))
                }
                if abortStale != nil, !quiet { warn("s3-put", "aborted \(count) unfinished upload(s)") }
                return
            }
            var upload = UploadOptions()
            upload.partSize = partSize?.bytes ?? upload.partSize
            // Small objects are one short request each, mostly waiting on the network: more go at once by
            // default than parts, whose memory each in flight holds.
            upload.concurrency = concurrency ?? 4
            upload.objectConcurrency = concurrency == nil ? 16 : nil
            upload.memory = memory?.bytes ?? UploadOptions.defaultMemory
            upload.multipartThreshold = multipartThreshold?.bytes
            upload.keepParts = keepParts
            upload.replace = replace || force
            upload.object = ObjectOptions(storageClass: storageClass, contentType: contentType,
                                          metadata: Dictionary(Self.pairs(metadata), uniquingKeysWith: { $1 }),
                                          tags: Self.pairs(tag), serverSideEncryption: sse, kmsKeyID: sseKmsKeyId)
            upload.object.lock = try objectLock()
            upload.object.checksum = checksum
            try checkObjectLock(upload.object.lock, destination: arguments.last!, s3: s3.overrides)
            if !quiet { upload.progress = TransferProgress.onTerminal(label: "s3-put") }
            var request = PutRequest(sources: Array(arguments.dropLast()), destination: arguments.last!,
                                     upload: upload, s3: s3.overrides, indexPath: index)
            request.s3.maxSendRate = limitRate?.bytes
            // A session folder named in Latin-1 keeps its bytes into the key, escaped (KeyTemplate.keyText).
            request.session = session.map { KeyTemplate.keyText(ArgumentBytes.of($0)) }
            request.recursive = recursive
            request.force = force
            request.dryRun = dryRun
            request.customerKeyFile = sseCKey ?? sseCKeyFile
            request.catalogPath = catalog.path
            try put(request, warn: { warn("s3-put", $0) }) { emitLine($0.jsonLine()) }
        }
    }
}

extension PutCommand {
    /// Retention needs its mode and the mode its date, as aws-cli asks; neither applies to the stale-upload jobs.
    func validateObjectLock() throws {
        if retainUntil != nil, retentionMode == nil {
            throw ValidationError("--retain-until needs --retention-mode GOVERNANCE or COMPLIANCE")
        }
        if retentionMode != nil, retainUntil == nil {
            throw ValidationError("--retention-mode needs --retain-until DATE or a period (30d, 18mo, 7y)")
        }
        if listStale != nil || abortStale != nil, retainUntil != nil || legalHold {
            throw ValidationError("--retain-until and --legal-hold apply to uploads, not to --list-stale or --abort-stale")
        }
        _ = try objectLock()
    }

    /// The Object Lock settings asked for; a bad mode or date is a usage error naming it.
    func objectLock() throws -> ObjectLock {
        do {
            return ObjectLock(mode: try retentionMode.map(RetentionMode.init(parsing:)),
                              retainUntil: try retainUntil.map { try RetainUntil.parse($0) }, legalHold: legalHold)
        } catch let failure as Failure {
            throw ValidationError(failure.message)
        }
    }
}
