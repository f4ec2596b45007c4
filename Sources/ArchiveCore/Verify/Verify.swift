import Foundation

/// Everything s3-verify was asked to do.
public struct VerifyRequest: Sendable {
    /// Record files (JSON Lines); empty means standard input.
    public var recordPaths: [String] = []
    /// With `against`: a remote object or prefix to compare with local data.
    public var url: String?
    public var against: String?
    /// Read the bytes back and hash them, rather than trusting HEAD's size and ETag.
    public var deep = false
    public var s3: S3Configuration.Overrides
    public var catalogPath: String?
    /// Objects checked at once (HEADs, or reads with `deep`); the output keeps the input's order.
    public var concurrency = 8
    /// With `deep`: bytes read back of the records' total, and objects checked; nil: no display.
    public var progress: TransferProgress?
    /// The file holding the objects' customer key (SSE-C), sent with every read of them.
    public var customerKeyFile: String?

    public init(s3: S3Configuration.Overrides) { self.s3 = s3 }
}

/// s3-verify's whole job: `OK url` or `FAILED url: reason` per object on `output`; the exit status is 1 when
/// anything failed. Shallow checks compare HEAD's size and ETag with the record; deep checks read the object
/// back and recompute its ETag, and for an archive every file's SHA-256 and the archive's own.
public func verify(_ request: VerifyRequest, output: (String) -> Void, warn: @escaping @Sendable (String) -> Void) throws -> ExitStatus {
    let catalog = try request.catalogPath.map { try Catalog(path: $0) }
    defer { catalog?.close() }
    var failures = 0
    let stores = OpenStores(s3: request.s3, customerKey: try request.customerKeyFile.map { try CustomerKey(file: $0) })
    func store(for url: StorageURL) throws -> ObjectStore { try stores.store(for: url) }
    // A check the catalog cannot take is said at the end, with the exit status: `s3-report status` would miss it.
    // After the first refusal no more are tried, each of which could wait out a locked catalog again.
    var unrecorded = 0
    var recordingError: Error?
    func report(_ url: String, _ problem: String?, note: String? = nil) {
        if let problem {
            failures += 1
            output("FAILED \(url): \(problem)")
        } else {
            output("OK \(url)" + (note.map { " (\($0))" } ?? ""))
        }
        guard let catalog, recordingError == nil else {
            if catalog != nil { unrecorded += 1 }
            return
        }
        do {
            try catalog.recordVerification(url: url, deep: request.deep, outcome: problem == nil ? "ok" : "failed", detail: problem ?? note)
        } catch {
            recordingError = error
            unrecorded += 1
        }
    }
    func finalStatus() -> ExitStatus {
        if let recordingError, let path = request.catalogPath {
            let checks = unrecorded == 1 ? "1 check" : "\(unrecorded) checks"
            warn("\(path): \(checks) not recorded in the catalog (\(recordingError)): s3-report status misses them; run s3-verify again once the catalog can be written")
        }
        return failures > 0 ? .checkFailed : recordingError != nil ? .ioError : .ok
    }

    if let against = request.against, let text = request.url {
        let url = try StorageURL(parsing: text)
        let objectStore = try store(for: url)
        let key = Storage.key(of: url)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: against, isDirectory: &isDirectory) else {
            throw Failure.noInput("\(against): no such file or directory")
        }
        if isDirectory.boolValue {
            try compareDirectory(against, with: url, store: objectStore, concurrency: request.concurrency) { report($0, $1) }
        } else {
            guard let info = try objectStore.head(key) else {
                report(url.description, "no such object")
                return finalStatus()
            }
            report(url.description, try compareLocal(against, with: info, in: objectStore))
        }
        return finalStatus()
    }

    var thrown: Error?
    // Each record's store is opened here, in order; a record whose URL cannot be opened ends the run after
    // the checks of the records before it, as when they were checked one by one.
    var checks: [(record: Record, store: ObjectStore, key: String)] = []
    var unopened: Error?
    do {
        for record in try RecordReader.read(paths: request.recordPaths) {
            let url = try StorageURL(parsing: record.url)
            checks.append((record, try store(for: url), Storage.key(of: url)))
        }
    } catch {
        unopened = error
    }
    let progress = request.deep ? request.progress : nil
    progress?.start(totalBytes: checks.reduce(0) { $0 + $1.record.size }, totalItems: checks.count)
    let engine = TransferEngine(concurrency: request.concurrency)
    engine.map(checks, { check(record: $0.record, store: $0.store, key: $0.key, deep: request.deep, progress: progress) },
               shouldContinue: { thrown == nil }) { _, check in
        if let error = check.error, thrown == nil { thrown = error }
        if thrown == nil { report(check.url, check.problem, note: check.note) }
        progress?.add(bytes: 0, items: 1)
    }
    progress?.finish(leavingSummary: true)
    if let error = thrown ?? unopened { throw error }
    return finalStatus()
}

/// One object's verdict: its problem (nil when it is as recorded), a note, or an error that ends the run.
struct Check: Sendable {
    var url: String
    var problem: String?
    var note: String?
    var error: Error?
}

/// A record against its object: HEAD's size and ETag, and with `deep` the bytes read back.
func check(record: Record, store objectStore: ObjectStore, key: String, deep: Bool, progress: TransferProgress? = nil) -> Check {
    let url = record.url
    do {
        guard let info = try objectStore.head(key) else { return Check(url: url, problem: "no such object") }
        if info.size != record.size { return Check(url: url, problem: "size \(info.size), the record says \(record.size)") }
        if info.etag != record.etag {
            return Check(url: url, problem: "ETag \(info.etag), the record says \(record.etag): overwritten since it was stored?")
        }
        let coldNote = info.isCold && !info.isReadable ? "\(info.storageClass), not restored" : nil
        if let problem = try checksumProblem(record: record, info: info, store: objectStore, key: key) {
            return Check(url: url, problem: problem)
        }
        guard deep else { return Check(url: url, note: coldNote) }
        if let coldNote { return Check(url: url, problem: "\(coldNote): restore it first (s3-restore) for a deep check") }
        var index: ArchiveIndex?
        if record.index != nil {
            do {
                index = try ArchiveIndex.decode(Data(try objectStore.get(key + ".index.json", range: nil)),
                                                source: record.url + ".index.json")
            } catch {
                return Check(url: url, problem: "its index cannot be read: \(error)")
            }
        }
        // The record's layout is s3-put's; the store knows it too for objects other clients wrote.
        let layout: PartLayout
        do { layout = try objectStore.partLayout(of: info) ?? record.layout } catch let conflict as PartLayoutConflict {
            return Check(url: url, problem: conflict.description)
        }
        return Check(url: url, problem: try readBack(objectStore, key: key, record: record, layout: layout, index: index,
                                                 object: info, progress: progress))
    } catch let refusal as CustomerKeyRefusal {
        // That object's failure: others in the records may need no key, or have it.
        return Check(url: url, problem: refusal.reason)
    } catch {
        return Check(url: url, error: error)
    }
}

/// Every regular file under a local directory against the object of the same relative key under `url`,
/// `concurrency` at once, reported in the files' sorted order.
func compareDirectory(_ against: String, with url: StorageURL, store objectStore: ObjectStore, concurrency: Int,
                      report: (String, String?) -> Void) throws {
    let key = Storage.key(of: url)
    let prefix = key.isEmpty || key.hasSuffix("/") ? key : key + "/"
    let remote = Dictionary(try objectStore.list(prefix: prefix).map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
    guard let walker = FileManager.default.enumerator(atPath: against) else { throw Failure.noInput("\(against): cannot list") }
    var files: [String] = []
    while let relative = walker.nextObject() as? String {
        guard walker.fileAttributes?[.type] as? FileAttributeType == .typeRegular else { continue }
        // The reports s3-restore leaves beside what it restored are no data of the prefix.
        if remote[prefix + relative] == nil, StatusReport.isReportName(Paths.name(relative)) { continue }
        files.append(relative)
    }
    var thrown: Error?
    let engine = TransferEngine(concurrency: concurrency)
    engine.map(files.sorted(), { relative in
        let objectURL = url.with(key: (url.key.hasSuffix("/") || url.key.isEmpty ? url.key : url.key + "/") + relative)
        do {
            guard remote[prefix + relative] != nil, let info = try objectStore.head(prefix + relative) else {
                return Check(url: objectURL.description, problem: "not in the store (local \(against)/\(relative))")
            }
            return Check(url: objectURL.description, problem: try compareLocal(against + "/" + relative, with: info, in: objectStore))
        } catch {
            return Check(url: objectURL.description, error: error)
        }
    }, shouldContinue: { thrown == nil }) { _, check in
        if let error = check.error, thrown == nil { thrown = error }
        if thrown == nil { report(check.url, check.problem) }
    }
    if let thrown { throw thrown }
}

/// A local file against a stored object: the ETag its bytes give with the object's part layout (recorded, or
/// the server's first part), else with the part sizes worth trying; where the ETag is no MD5 (SSE-KMS), the
/// CRC64NVME they give against the one the store keeps.
func compareLocal(_ path: String, with info: ObjectInfo, in store: ObjectStore) throws -> String? {
    let reader = try FileReader(path: path)
    guard reader.size == info.size else { return "size \(info.size) in the store, \(reader.size ?? -1) locally (\(path))" }
    if !info.etagIsMD5 {
        // SSE-KMS, SSE-C: the ETag is no digest of the bytes; the CRC64NVME the store keeps is.
        guard let stored = info.fullObjectCRC64NVME else {
            return "its ETag is no MD5 (SSE-KMS or SSE-C) and the store keeps no CRC64NVME for it: \(path) cannot be compared"
        }
        return try CRC64NVME.checksum(of: reader).value == stored ? nil : "the local file \(path) differs (CRC64NVME)"
    }
    let known: PartLayout?
    do { known = try store.partLayout(of: info) } catch let conflict as PartLayoutConflict { return conflict.description }
    if let layout = known {
        return try ETag.compute(reader, layout: layout) == info.etag ? nil
            : "the local file \(path) differs (ETag)"
    }
    return try ETag.findPartSize(reader, matching: info.etag) != nil ? nil : "the local file \(path) differs (no part size gives ETag \(info.etag))"
}

/// Reads the object once: its ETag recomputed with `layout`, and for an archive each file's SHA-256 at its
/// offset and the whole tar's CRC64NVME (an older index: its SHA-256). Returns the problem, or nil.
///
/// `object`, the HEAD's answer: its stored CRC64NVME is checked against the bytes too, and stands in for the
/// ETag where that is no MD5 (SSE-KMS, SSE-C).
func readBack(_ store: ObjectStore, key: String, record: Record, layout: PartLayout, index: ArchiveIndex?,
              object: ObjectInfo? = nil, progress: TransferProgress? = nil) throws -> String? {
    let stored = object?.fullObjectCRC64NVME
    var crc = CRC64NVME()
    let etagOfStream = StreamingETag(layout: layout)
    let whole = index?.archive.sha256 == nil ? nil : Digest(.sha256)
    let indexedCRC = index?.archive.crc64nvme.flatMap(CRC64NVME.value(base64:))
    let files = (index?.entries ?? []).filter { $0.type == "file" && $0.offset != nil }.sorted { $0.offset! < $1.offset! }
    var fileIndex = 0
    let fileDigest = Digest(.sha256)
    var damaged: [String] = []
    var position = 0

    try store.download(key, range: nil) { chunk in
        whole?.update(chunk)
        if stored != nil || indexedCRC != nil { crc.update(chunk) }
        etagOfStream.update(chunk)
        // Archive members.
        var cursor = 0
        while cursor < chunk.count, fileIndex < files.count {
            let file = files[fileIndex]
            let start = file.offset!, end = start + file.size
            let here = position + cursor
            if here < start { cursor += min(start - here, chunk.count - cursor); continue }
            let take = min(end - here, chunk.count - cursor)
            fileDigest.update(UnsafeRawBufferPointer(rebasing: chunk[cursor..<(cursor + take)]))
            cursor += take
            if here + take == end {
                if fileDigest.finish().hex != file.sha256 { damaged.append(file.path.description) }
                fileIndex += 1
            }
        }
        // Empty files at the current position.
        while fileIndex < files.count, files[fileIndex].size == 0, files[fileIndex].offset! <= position + chunk.count {
            if fileDigest.finish().hex != files[fileIndex].sha256 { damaged.append(files[fileIndex].path.description) }
            fileIndex += 1
        }
        position += chunk.count
        progress?.add(bytes: chunk.count)
    }
    if position != record.size { return "read \(position) bytes, the record says \(record.size)" }
    let etag = etagOfStream.finish()
    if let index {
        while fileIndex < files.count, files[fileIndex].size == 0 {
            if fileDigest.finish().hex != files[fileIndex].sha256 { damaged.append(files[fileIndex].path.description) }
            fileIndex += 1
        }
        if !damaged.isEmpty { return "damaged: \(damaged.joined(separator: ", "))" }
        if let whole, let indexed = index.archive.sha256, case let sha = whole.finish().hex, sha != indexed {
            return "the archive's SHA-256 is \(sha), the index says \(indexed)"
        }
        if let indexedCRC, crc.value != indexedCRC {
            return "the archive's CRC64NVME is \(crc.base64), the index says \(index.archive.crc64nvme ?? "")"
        }
    }
    if let stored, crc.value != stored {
        return "the bytes read back give CRC64NVME \(crc.base64), the store keeps \(object?.checksumCRC64NVME ?? "")"
    }
    // An encrypted object's ETag is no digest of its bytes: the stored checksum, just compared, is the check.
    if etag != record.etag, object?.etagIsMD5 ?? true || stored == nil {
        return "the bytes read back give ETag \(etag), the record says \(record.etag)"
    }
    return nil
}

/// The whole object's CRC64NVME the store keeps (from the HEAD) against the record's and, for an archive,
/// its index's: a whole-archive check that reads none of the archive's bytes (the index is a small GET).
/// Nothing to compare (no stored checksum, an older record or index) is no problem.
func checksumProblem(record: Record, info: ObjectInfo, store: ObjectStore, key: String) throws -> String? {
    guard let stored = info.fullObjectCRC64NVME else { return nil }
    let storedText = info.checksumCRC64NVME ?? ""
    if let recorded = record.checksumCRC64NVME, CRC64NVME.value(base64: recorded) != stored {
        return "CRC64NVME \(storedText) in the store, the record says \(recorded): overwritten since it was stored?"
    }
    guard record.index != nil else { return nil }
    let index: ArchiveIndex
    do {
        index = try ArchiveIndex.decode(Data(try store.get(key + ".index.json", range: nil)), source: record.url + ".index.json")
    } catch {
        return "its index cannot be read: \(error)"
    }
    if let indexed = index.archive.crc64nvme, CRC64NVME.value(base64: indexed) != stored {
        return "CRC64NVME \(storedText) in the store, the index says \(indexed): the archive is not the one its index describes"
    }
    return nil
}
