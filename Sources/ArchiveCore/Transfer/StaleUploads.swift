import Foundation

/// Durations as users write them: `7d`, `12h`, `30m`, `90s`, `2w`.
public enum DurationText {
    public static func parse(_ text: String) throws -> TimeInterval {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        let digits = trimmed.prefix { $0.isNumber }
        let unit = trimmed.dropFirst(digits.count)
        let scale: Double? = ["": 1, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800][String(unit)]
        guard let number = Double(digits), let scale else {
            throw Failure.usage("invalid duration '\(text)': write a number and a unit, e.g. 90s, 30m, 12h, 7d, 2w")
        }
        return number * scale
    }
}

/// Multipart uploads left unfinished under a bucket or prefix: listed, and aborted when older than an age,
/// so that abandoned parts stop costing money.
public func staleUploads(at location: String, olderThan age: TimeInterval, abort: Bool, s3: S3Configuration.Overrides,
                         now: Date = Date(), emit: (PendingUpload, Bool) -> Void) throws -> Int {
    let url = try StorageURL(parsing: location)
    let (store, prefix) = try Storage.open(url) { try S3Configuration.resolve(s3) }
    var count = 0
    for upload in try store.listUploads(prefix: prefix).sorted(by: { $0.initiated < $1.initiated })
        where now.timeIntervalSince(upload.initiated) >= age {
        if abort { try store.abortMultipart(upload.key, uploadID: upload.uploadID) }
        emit(upload, abort)
        count += 1
    }
    return count
}

/// Multipart uploads the catalog still lists in progress to the URLs this run is about to write, left by a run
/// that was killed, could not reach the store to abort, or could not record how it ended. The one this run will
/// resume (the same file, unchanged, same part size: `Uploader`'s own choice) is kept while the store holds it;
/// every other is aborted at the store. One the store no longer knows is recorded `completed` when an object
/// written since it started is at its key, else `ended`. An upload the store cannot be asked about stays as it
/// is, for the next run (said on stderr); a catalog that cannot be written stops the run.
func settleLeftoverUploads(_ items: [PutItem], store: ObjectStore, catalog: Catalog, options: UploadOptions,
                           warn: (String) -> Void) throws {
    let byURL = Dictionary(items.map { ($0.url.description, $0) }, uniquingKeysWith: { first, _ in first })
    let leftovers = try catalog.leftoverUploads(to: Set(byURL.keys))
    guard !leftovers.isEmpty else { return }
    var resumed: Set<String> = []
    for url in Set(leftovers.map(\.url)) {
        if let item = byURL[url], let id = try resumableUploadID(item, catalog: catalog, options: options) {
            resumed.insert(id)
        }
    }
    for upload in leftovers {
        do {
            try settle(upload, keep: resumed.contains(upload.uploadID), store: store, catalog: catalog)
        } catch where CatalogBusy.recognizing(error) != nil {
            throw error
        } catch {
            warn("\(upload.url): cannot abort or resume the upload an earlier run left (\(upload.uploadID)): "
                 + "\(Failure.describing(error)): the next run tries again")
        }
    }
}

/// The upload `Uploader` will resume for this item, if any: the same query, with the same layout.
private func resumableUploadID(_ item: PutItem, catalog: Catalog, options: UploadOptions) throws -> String? {
    guard let size = item.reader.size, size > options.multipartThreshold ?? options.partSize,
          let fingerprint = item.reader.fingerprint else { return nil }
    let layout = PartLayout.forFile(size: size, preferred: options.partSize)
    return try catalog.resumableUpload(url: item.url.description, source: fingerprint, layout: layout)?.uploadID
}

private func settle(_ upload: LeftoverUpload, keep: Bool, store: ObjectStore, catalog: Catalog) throws {
    let state: String
    if try store.listParts(upload.key, uploadID: upload.uploadID) != nil {
        if keep { return }
        try store.abortMultipart(upload.key, uploadID: upload.uploadID)
        state = "aborted"
    } else {
        // A minute of slack for the store's clock against ours.
        let since = upload.started.addingTimeInterval(-60)
        let written = try store.head(upload.key).map { ($0.lastModified ?? since) >= since } ?? false
        state = written ? "completed" : "ended"
    }
    try catalog.uploadEnded(upload.uploadID, state: state)
}
