import Foundation

/// Everything s3-put was asked to do.
public struct PutRequest: Sendable {
    /// Files to send; empty (or `-`) means standard input.
    public var sources: [String]
    public var destination: String
    public var upload: UploadOptions
    public var s3: S3Configuration.Overrides

    public init(sources: [String], destination: String, upload: UploadOptions, s3: S3Configuration.Overrides) {
        self.sources = sources
        self.destination = destination
        self.upload = upload
        self.s3 = s3
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
        let record = try Uploader(store: store, options: options)
            .upload(reader, to: destination.isPrefix ? destination.with(key: destination.key + name) : destination, key: key)
        emit(record)
    }
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
