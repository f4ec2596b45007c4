import Foundation

/// Everything s3-put was asked to do.
public struct PutRequest: Sendable {
    /// Files to send; empty (or `-`) means standard input.
    public var sources: [String]
    public var destination: String
    public var upload: UploadOptions
    public var s3: S3Configuration.Overrides
    /// The index s3-archive wrote for this archive: checked against the stream, then stored as `KEY.index.json`.
    public var indexPath: String?

    public init(sources: [String], destination: String, upload: UploadOptions, s3: S3Configuration.Overrides,
                indexPath: String? = nil) {
        self.sources = sources
        self.destination = destination
        self.upload = upload
        self.s3 = s3
        self.indexPath = indexPath
    }
}

/// s3-put's whole job: check the destination, then upload each source in turn, handing each record to `emit`
/// as soon as that object is stored and verified. Stops at the first failure.
public func put(_ request: PutRequest, emit: (Record) -> Void) throws {
    let destination = try StorageURL(parsing: request.destination)
    let sources = request.sources.isEmpty ? ["-"] : request.sources
    if sources.count > 1, !destination.isPrefix {
        throw Failure.usage("several files go to a prefix: end the destination with '/' (\(destination)/)")
    }
    if sources.contains("-"), destination.isPrefix {
        throw Failure.usage("standard input has no name: give the full key, e.g. \(destination)data.bin")
    }
    if request.indexPath != nil, sources.count > 1 {
        throw Failure.usage("--index describes one archive: give one input")
    }
    // Every input opens before any byte moves, so a typo fails the run, not the tenth upload.
    let readers = try sources.map { try FileReader(path: $0) }
    let (store, baseKey) = try Storage.open(destination) { try S3Configuration.resolve(request.s3) }
    try store.checkWritable()

    for reader in readers {
        let name = (reader.path as NSString).lastPathComponent
        let key = destination.isPrefix ? baseKey + name : baseKey
        var options = request.upload
        if options.object.contentType == nil {
            options.object.contentType = ContentType.guess(forName: destination.isPrefix ? name : key)
        }
        let url = destination.isPrefix ? destination.with(key: destination.key + name) : destination
        var record: Record
        if let indexPath = request.indexPath {
            record = try putArchive(reader, indexPath: indexPath, store: store, url: url, key: key, options: options)
        } else {
            record = try Uploader(store: store, options: options).upload(reader, to: url, key: key)
        }
        emit(record)
    }
}

/// An archive and its index: the index must describe exactly the bytes that were read (s3-archive writes it
/// before its output ends), or nothing is stored. The index goes beside the archive as `KEY.index.json`, in
/// STANDARD class whatever the archive's, so it stays readable while the archive sleeps in Deep Archive.
func putArchive(_ reader: FileReader, indexPath: String, store: ObjectStore, url: StorageURL, key: String,
                options: UploadOptions) throws -> Record {
    let loaded = IndexBox()
    var archiveOptions = options
    archiveOptions.checkBeforeStoring = { size in
        guard let data = FileManager.default.contents(atPath: indexPath) else {
            throw Failure.noInput("\(indexPath): no index: s3-archive writes it when the archive is complete; did it fail?")
        }
        let index = try ArchiveIndex.decode(data, source: indexPath)
        guard index.archive.size == size else {
            throw Failure.check("\(indexPath): the index describes \(index.archive.size) bytes but \(size) were read: the archive is incomplete or the index is from another run")
        }
        loaded.set(index, data)
    }
    var record = try Uploader(store: store, options: archiveOptions).upload(reader, to: url, key: key)
    guard let (index, data) = loaded.get() else { throw Failure(.software, "index not loaded") }

    var indexOptions = UploadOptions()
    indexOptions.object = ObjectOptions(storageClass: "STANDARD", contentType: "application/json")
    let indexURL = url.with(key: url.key + ".index.json")
    _ = try Uploader(store: store, options: indexOptions).upload(bytes: Array(data), to: indexURL, key: key + ".index.json")
    record.sha256 = index.archive.sha256
    record.session = index.session
    record.index = indexURL.description
    return record
}

/// Hands the index read inside the upload's check back to the caller.
private final class IndexBox: @unchecked Sendable {
    private let lock = NSLock()
    private var value: (ArchiveIndex, Data)?
    func set(_ index: ArchiveIndex, _ data: Data) { lock.withLock { value = (index, data) } }
    func get() -> (ArchiveIndex, Data)? { lock.withLock { value } }
}

/// Content types for the files this toolkit stores, from the name's extension.
public enum ContentType {
    static let byExtension: [String: String] = [
        "tar": "application/x-tar", "json": "application/json", "jsonl": "application/x-ndjson",
        "txt": "text/plain", "log": "text/plain", "csv": "text/csv", "xml": "application/xml",
        "gz": "application/gzip", "zst": "application/zstd", "zip": "application/zip",
        "fits": "application/fits", "fit": "application/fits", "fts": "application/fits",
        "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "tif": "image/tiff", "tiff": "image/tiff",
        "pdf": "application/pdf", "html": "text/html",
    ]

    public static func guess(forName name: String) -> String {
        let ext = (name as NSString).pathExtension.lowercased()
        return byExtension[ext] ?? "application/octet-stream"
    }
}
