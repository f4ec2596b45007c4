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
