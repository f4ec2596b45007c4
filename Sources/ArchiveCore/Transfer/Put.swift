import Foundation
import SystemPackage
import Synchronization

/// Everything s3-put was asked to do.
public struct PutRequest: Sendable {
    /// Files (or, with `recursive`, directories) to send; empty (or `-`) means standard input.
    public var sources: [String]
    /// `s3://BUCKET/KEY` or `file:///PATH`, with optional `{year}`, `{month}`, `{day}`, `{session}`, `{name}`.
    public var destination: String
    public var upload: UploadOptions
    public var s3: S3Configuration.Overrides
    /// The index s3-archive wrote for this archive: checked against the stream, then stored as `KEY.index.json`.
    public var indexPath: String?
    /// The session name for `{session}` and the dates in the key; default: the file's name without extension.
    public var session: String?
    public var recursive = false
    /// Upload even when an identical object is already there (`--force`); it replaces it, so it needs
    /// `upload.replace` (the command sets both).
    public var force = false
    public var dryRun = false
    public var customerKeyFile: String?
    /// Where the catalog is, or nil for none (`--no-catalog`).
    public var catalogPath: String?

    public init(sources: [String], destination: String, upload: UploadOptions, s3: S3Configuration.Overrides,
                indexPath: String? = nil) {
        self.sources = sources
        self.destination = destination
        self.upload = upload
        self.s3 = s3
        self.indexPath = indexPath
    }
}

/// One input before it is opened: a file by its exact bytes (an instrument PC's Latin-1 names too), or standard
/// input; `name` is what `{name}` and a prefix destination make of it (bytes that are not UTF-8 as `%XX`, as in
/// every key).
struct PutSource {
    var path: FilePath?
    var name: String

    static let standardInput = PutSource(path: nil, name: "-")

    /// An operand as given on the command line, byte for byte (`ArgumentBytes`).
    init(operand: String) {
        if operand == "-" {
            self = .standardInput
        } else {
            let bytes = ArgumentBytes.of(operand)
            self.init(path: FilePath(bytes: bytes), name: KeyTemplate.keyText(ArchivePath(bytes: bytes).name.bytes))
        }
    }

    init(path: FilePath?, name: String) {
        self.path = path
        self.name = name
    }
}

/// One input and the object it becomes.
struct PutItem: Sendable {
    var reader: FileReader
    var url: StorageURL
    /// The name `{name}` and content types come from.
    var name: String
}

/// s3-put's whole job: check every input and the destination before a byte moves, then upload each input in
/// turn, handing each record to `emit` as soon as that object is stored and verified (or found identical and
/// skipped). Stops at the first failure, aborting its multipart upload; SIGINT and SIGTERM abort too.
public func put(_ request: PutRequest, warn: @escaping @Sendable (String) -> Void, emit: (Record) -> Void) throws {
    var sources = request.sources.isEmpty ? [.standardInput] : request.sources.map(PutSource.init(operand:))
    if request.recursive {
        sources = try expandDirectories(sources)
        // Folders with no regular file in them: nothing to store, as with `aws s3 cp --recursive`.
        if sources.isEmpty { return warn("nothing to upload: \(request.sources.joined(separator: ", ")) holds no regular file") }
    }
    let template = request.destination
    let destinationIsPrefix = template.hasSuffix("/")
    _ = try StorageURL(parsing: template)
    if sources.count > 1, !destinationIsPrefix {
        throw Failure.usage("several files go to a prefix: end the destination with '/' (\(template)/)")
    }
    if sources.contains(where: { $0.path == nil }), destinationIsPrefix {
        throw Failure.usage("standard input has no name: give the full key, e.g. \(template)data.bin")
    }
    if request.indexPath != nil, sources.count > 1 {
        throw Failure.usage("--index describes one archive: give one input")
    }

    // Every input opens before any byte moves, so a typo fails the run, not the tenth upload.
    let items = try sources.map { try openInput($0, request: request) }
    for item in items { try refuseAmbiguousKey(item.url) }
    let customerKey = try request.customerKeyFile.map { try CustomerKey(file: $0) }
    let catalog = try request.catalogPath.map { try Catalog(path: $0) }
    defer { catalog?.close() }
    let store: ObjectStore
    do {
        store = try Storage.open(items[0].url, customerKey: customerKey) { try S3Configuration.resolve(request.s3) }.store
        try store.checkWritable()
    } catch {
        // A batch that could not start is still a failed batch: the log must say so.
        for item in items {
            try? catalog?.log(tool: "s3-put", action: "put", url: item.url.description, outcome: "failed", message: "\(error)")
        }
        throw error
    }

    var options = request.upload
    options.catalog = catalog
    options.object.customerEncrypted = customerKey != nil
    options.engine = TransferEngine(concurrency: options.objectConcurrency ?? options.concurrency)
    let active = ActiveUploads()
    options.active = active
    let keepParts = options.keepParts
    let signals = SignalGuard { signal in
        // A stream cannot be resumed, so its parts are never worth keeping.
        let aborted = active.abortAll(catalog: catalog, keepingResumable: keepParts)
        warn("interrupted" + (aborted > 0 ? ": aborted \(aborted) unfinished upload(s)" : keepParts ? ": parts kept for resume" : ""))
    }
    defer { signals.cancel() }

    if request.dryRun {
        for item in items {
            warn("(dry run) would upload \(item.reader.path) to \(item.url)" + (item.reader.size.map { " (\(ByteSize.format($0)))" } ?? ""))
        }
        return
    }
    // Held until the records are written: a second run of the same upload waits, then skips (DestinationLocks).
    let held = try holdDestinations(items, store: store, catalog: catalog, options: options, warn: warn)
    defer { held?.release() }
    guard let stop = storeEach(items, store: store, request: request, options: options, emit: emit) else { return }
    // A request cut short by the interrupt's abort is no failure to report: the signal's status is the answer.
    if signals.interrupted { signals.waitForExit() }
    guard items.count > 1 else { throw stop.error }
    // A catalog too busy to record is the run's problem, not the file's: the same 74 as for one file.
    if let busy = CatalogBusy.recognizing(stop.error) { throw busy }
    // An error no part of the toolkit describes (GRDB, Foundation) stays internal (70), never "a check failed".
    let status = (stop.error as? ReportableError)?.exitStatus ?? .software
    let after = stop.storedAfter == 0 ? "none" : String(stop.storedAfter)
    throw Failure([.noPermission, .unavailable, .software].contains(status) ? status : .checkFailed,
                  "\(stop.item.reader.path): \(Failure.describing(stop.error)) (stopped: \(stop.position) of \(items.count) files stored before it, \(after) after)")
}

/// One input opened, and the URL its key template gives it.
func openInput(_ source: PutSource, request: PutRequest) throws -> PutItem {
    let template = request.destination
    let reader = try source.path.map { try FileReader(path: $0, noFollow: false, name: $0.displayString) } ?? FileReader(path: "-")
    let name = source.name
    let session = request.session ?? (source.path == nil ? nil : Paths.stem(name))
    let expanded = try KeyTemplate.expand(template, name: source.path == nil ? nil : name, session: session)
    let url = try StorageURL(parsing: template.hasSuffix("/") ? expanded + name : expanded)
    return PutItem(reader: reader, url: url, name: name)
}

/// The first input that failed, and how many after it were stored anyway (they were under way side by side).
struct PutStop {
    var position: Int
    var item: PutItem
    var error: Error
    var storedAfter = 0
}

/// Stores every input until one fails. Objects that go in one PUT run side by side on the engine; a multipart
/// upload runs on this thread, its parts on the engine. Records are emitted, and the catalog written, on this
/// thread in the inputs' order either way.
func storeEach(_ items: [PutItem], store: ObjectStore, request: PutRequest, options: UploadOptions,
               emit: (Record) -> Void) -> PutStop? {
    let threshold = options.multipartThreshold ?? options.partSize
    let catalog = options.catalog
    var stop: PutStop?
    options.engine?.map(items, { item in
        putOne(item, store: store, request: request, options: options)
    }, runsHere: { item in
        request.indexPath != nil || (item.reader.size.map { $0 > threshold } ?? true)
    }, shouldContinue: { stop == nil }) { position, result in
        let item = items[position]
        switch result {
        case .success(let done):
            if done.record.skipped == true {
                try? catalog?.log(tool: "s3-put", action: "put", url: done.record.url, outcome: "skipped", bytes: 0)
                emit(done.record)
                return
            }
            stop?.storedAfter += 1
            do {
                try catalog?.recordStored(done.record, source: item.reader.fingerprint, archive: done.index,
                                          sessionPath: done.index?.source)
            } catch {
                if stop == nil { stop = PutStop(position: position, item: item, error: error) }
                return
            }
            try? catalog?.log(tool: "s3-put", action: "put", url: done.record.url, outcome: "ok", bytes: done.record.size,
                              seconds: done.seconds)
            emit(done.record)
        case .failure(let failed):
            try? catalog?.log(tool: "s3-put", action: "put", url: item.url.description, outcome: "failed",
                              seconds: failed.seconds, message: "\(failed.error)")
            if stop == nil { stop = PutStop(position: position, item: item, error: failed.error) }
        }
    }
    return stop
}

/// One object stored (or found identical), with what the catalog is told of it.
struct PutDone: Sendable {
    var record: Record
    var index: ArchiveIndex?
    var seconds: Double
}

/// Why one object was not stored.
struct PutFailed: Error {
    var error: Error
    var seconds: Double
}

/// Stores one input (or finds it already stored), on whichever thread runs it.
func putOne(_ item: PutItem, store: ObjectStore, request: PutRequest, options: UploadOptions) -> Result<PutDone, PutFailed> {
    let key = Storage.key(of: item.url)
    var itemOptions = options
    if itemOptions.object.contentType == nil { itemOptions.object.contentType = ContentType.guess(forName: item.url.key) }
    let started = Date()
    do {
        // A new small file goes straight to its conditional PUT, whose refusal (something at the key) is then
        // looked at as a HEAD first would have: one request, not two, per object of a first upload. A key the
        // catalog knows is looked at first: the next run of the same upload finds its objects there.
        let single = item.reader.size.map { $0 <= (options.multipartThreshold ?? options.partSize) } ?? false
        // A multipart upload's parts go `concurrency` at once, on threads of its own, when more objects do.
        if !single, let objects = options.objectConcurrency, objects != options.concurrency { itemOptions.engine = nil }
        let known = single ? try options.catalog?.storedObject(item.url.description) : nil
        let writeFirst = single && !itemOptions.replace && request.indexPath == nil && known == nil
        // A file can be compared with what is at the key before a byte moves; a stream only once it is read,
        // by the conditional write at its end.
        if !request.force, !writeFirst, item.reader.size != nil, let remote = try store.head(key) {
            if let skipped = try identicalObject(item, remote: remote, in: store, url: item.url, catalog: options.catalog,
                                                 options: itemOptions) {
                return .success(PutDone(record: skipped, seconds: Date().timeIntervalSince(started)))
            }
            // An archive's refusal comes from the conditional write itself, where putArchive can answer it.
            if !itemOptions.replace, request.indexPath == nil {
                throw ObjectExists(url: item.url.description, storedETag: ETag.unquote(remote.etag),
                                   inputETag: try uploadETag(item.reader, options: itemOptions))
            }
        }
        itemOptions.progress?.setLabel(item.name)
        defer { itemOptions.progress?.finish() }
        if let indexPath = request.indexPath {
            let (record, index) = try putArchive(item.reader, indexPath: indexPath, store: store, url: item.url, key: key,
                                                 options: itemOptions)
            return .success(PutDone(record: record, index: index, seconds: Date().timeIntervalSince(started)))
        }
        do {
            let record = try Uploader(store: store, options: itemOptions).upload(item.reader, to: item.url, key: key)
            return .success(PutDone(record: record, seconds: Date().timeIntervalSince(started)))
        } catch let exists as ObjectExists where writeFirst && !request.force {
            // Other bytes by ETag may still be these bytes, stored by another client in parts of its own size.
            if let remote = try store.head(key), let skipped = try identicalObject(item, remote: remote, in: store, url: item.url,
                                                                                   catalog: options.catalog, options: itemOptions) {
                return .success(PutDone(record: skipped, seconds: Date().timeIntervalSince(started)))
            }
            throw exists
        }
    } catch {
        return .failure(PutFailed(error: error, seconds: Date().timeIntervalSince(started)))
    }
}

/// An object already at the destination (`remote`) with the same size and ETag as the local file makes the
/// upload needless. The catalog answers without reading the file when it stored this same file there; otherwise
/// the file is hashed with the part layout the store knows (recorded, or the server's first part), else with
/// the part sizes the remote ETag allows. An ETag that is no MD5 (KMS) is compared by the whole-object
/// CRC64NVME the store keeps instead, with the part layout the object's metadata records.
func identicalObject(_ item: PutItem, remote: ObjectInfo, in store: ObjectStore, url: StorageURL, catalog: Catalog?,
                     options: UploadOptions) throws -> Record? {
    guard let size = item.reader.size, remote.size == size else { return nil }
    var layout: PartLayout?
    if let known = try catalog?.storedObject(item.url.description), known.source == item.reader.fingerprint,
       known.record.etag == remote.etag {
        layout = known.record.layout
    } else if !remote.etagIsMD5 {
        guard let stored = remote.fullObjectCRC64NVME, try CRC64NVME.checksum(of: item.reader).value == stored else { return nil }
        layout = remote.recordedLayout ?? PartLayout(partSize: max(size, 1))
    } else if ETag.partCount(remote.etag) != nil {
        let known: PartLayout?
        // A server whose parts contradict the ETag leaves the layout unknown: not identical, and no guess.
        do { known = try store.partLayout(of: remote) } catch is PartLayoutConflict { return nil }
        if let known {
            guard try ETag.compute(item.reader, layout: known) == remote.etag else { return nil }
            layout = known
        } else {
            let preferred = [PartLayout.forFile(size: size, preferred: options.partSize).partSize]
            guard let partSize = try ETag.findPartSize(item.reader, matching: remote.etag, preferred: preferred,
                                                       maxCandidates: 4) else { return nil }
            layout = PartLayout(partSize: partSize)
        }
    } else {
        guard try ETag.compute(item.reader, layout: PartLayout(partSize: max(size, 1))) == remote.etag else { return nil }
        layout = PartLayout(partSize: max(size, 1))
    }
    guard let layout else { return nil }
    var record = Record(url: url.description, bucket: url.bucket, key: url.key, size: size, etag: remote.etag,
                        layout: layout, parts: ETag.partCount(remote.etag) ?? 1, storageClass: remote.storageClass)
    record.skipped = true
    return record
}

/// The ETag an upload of this file would give (one PUT up to the threshold, else the file's part layout), for
/// a refusal's message.
func uploadETag(_ reader: FileReader, options: UploadOptions) throws -> String {
    let size = reader.size ?? 0
    let single = size <= (options.multipartThreshold ?? options.partSize)
    return try ETag.compute(reader, layout: single ? PartLayout(partSize: max(size, 1))
                                                    : PartLayout.forFile(size: size, preferred: options.partSize))
}

/// Keys S3 servers do not agree on are refused before any request, so that a record never names a key other
/// than the one stored: `.` and `..` segments (SeaweedFS refuses them; HTTP libraries and some servers resolve
/// them away) and empty segments, `//` or a leading `/` (SeaweedFS stores `a//b` as `a/b`). Every other byte
/// (spaces, `+`, `%`, `~`, non-ASCII) is sent and signed as written.
func refuseAmbiguousKey(_ url: StorageURL) throws {
    guard case .s3(_, let key) = url, !key.isEmpty else { return }
    let segments = key.split(separator: "/", omittingEmptySubsequences: false)
    // A trailing `/` is a key of its own ("folder" markers), stored as written everywhere.
    let inner = segments.count > 1 && segments.last == "" ? segments.dropLast() : segments[...]
    if let odd = inner.first(where: { $0 == "." || $0 == ".." || $0.isEmpty }) {
        let what = odd.isEmpty ? (key.hasPrefix("/") ? "a leading '/'" : "an empty segment ('//')") : "a '\(odd)' segment"
        throw Failure.usage("\(url): the key has \(what), which S3 servers store under other keys or refuse: write the key without it")
    }
}

/// `--recursive`: each directory becomes the regular files under it, as `PATH\0RELATIVE` pairs whose relative
/// part names the object under the prefix.
func expandDirectories(_ sources: [PutSource]) throws -> [PutSource] {
    var result: [PutSource] = []
    for source in sources {
        guard let folder = source.path, (try? FileStatus.of(folder, followingSymlink: true))?.kind == .directory else {
            result.append(source)
            continue
        }
        // Walked as bytes, regular files only (symlinks are not followed), each name under the folder's own.
        let base = ArchivePath(bytes: folder.bytes).name
        var files: [ArchivePath] = []
        let unreadable = SessionFinder.walkFiles(folder, excluding: []) { relative, _ in
            files.append(relative)
            return true
        }
        if let first = unreadable.first {
            throw Failure.noInput("\(first): cannot be read: nothing was uploaded; make it readable, or leave it out")
        }
        for relative in files.sorted() {
            result.append(PutSource(path: folder.appending(bytes: relative.bytes),
                                    name: KeyTemplate.keyText(base.appending(relative).bytes)))
        }
    }
    return result
}

/// An archive and its index: the index must describe exactly the bytes that were read (s3-archive writes it
/// before its output ends), or nothing is stored. The index goes beside the archive as `KEY.index.json`, in
/// STANDARD class whatever the archive's, so it stays readable while the archive sleeps in Deep Archive.
/// An archive is never stored over an earlier one: when the key is taken, it goes beside it as the next
/// generation (`Generation`), unless it is the latest generation's very bytes, which makes it skipped.
func putArchive(_ reader: FileReader, indexPath: String, store: ObjectStore, url: StorageURL, key: String,
                options: UploadOptions) throws -> (Record, ArchiveIndex) {
    let target = try ArchiveTarget(base: key, store: store, replacing: options.replace)
    let loaded = IndexBox()
    var archiveOptions = options
    // The stream is checked against the index by the CRC64NVME the upload takes anyway; a second SHA-256 of every
    // byte only for an index that has no CRC (an older s3-archive's, there already) or an upload that takes none.
    archiveOptions.checkWithSHA256 = options.object.checksum != .crc64nvme || indexPredatesCRC(indexPath)
    archiveOptions.checkBeforeStoring = { size, sha256, crc in
        let (index, data) = try loadIndex(indexPath, size: size, sha256: sha256, crc: crc)
        loaded.set(index, data)
        if let latest = target.latestTotals ?? target.latestIndexTotals(in: store),
           latest.describesSameBytes(as: index.archive) { throw SameAsLatestGeneration() }
    }
    let targetURL = url.with(key: target.key)
    var record: Record
    do {
        record = try Uploader(store: store, options: archiveOptions).upload(reader, to: targetURL, key: target.key)
    } catch is SameAsLatestGeneration {
        guard let (index, _) = loaded.get() else { throw Failure(.software, "index not loaded") }
        return (try target.latestRecord(url: url, store: store, index: index, catalog: options.catalog), index)
    } catch let error as ReportableError where error.exitStatus == .objectExists && !options.replace {
        throw Failure(.tryAgainLater, "\(targetURL): another run stored generation \(target.number) of this archive meanwhile; nothing was stored: run again to compare with it")
    }
    guard let (index, data) = loaded.get() else { throw Failure(.software, "index not loaded") }
    if record.skipped == true {
        // Another run (another host) stored these very bytes at this key meanwhile, and won the conditional
        // write: the index beside them is its own, naming its folder, and ours would be refused. Skipped, as
        // that generation.
        var stored = target
        stored.latest = (target.number, target.key)
        return (try stored.latestRecord(url: url, store: store, index: index, catalog: options.catalog), index)
    }

    var indexOptions = UploadOptions()
    indexOptions.object = ObjectOptions(storageClass: "STANDARD", contentType: "application/json")
    // The index is what makes the archive restorable file by file: it is kept as long as the archive, and an
    // archive replaced deliberately takes its index with it.
    indexOptions.object.lock = options.object.lock
    indexOptions.replace = options.replace
    let indexURL = targetURL.with(key: targetURL.key + ".index.json")
    do {
        _ = try Uploader(store: store, options: indexOptions).upload(bytes: Array(data), to: indexURL, key: target.key + ".index.json")
    } catch let refusal as ObjectExists where !options.replace {
        // Another host archived the same session with the same bytes at the same moment, and its index, naming
        // its own folder, got there first (whichever of the two archive writes the store applied, the bytes are
        // these): this generation is stored, and its index describes it. Anything else at the key is refused.
        guard let stored = ArchiveTarget.totals(of: target.key, in: store),
              stored.describesSameBytes(as: index.archive) else { throw refusal }
        var found = target
        found.latest = (target.number, target.key)
        return (try found.latestRecord(url: url, store: store, index: index, catalog: options.catalog), index)
    }
    record.sha256 = index.archive.sha256
    record.session = index.session
    record.index = indexURL.description
    record.generation = target.number > 1 ? target.number : nil
    return (record, index)
}

/// Whether the index at `path` is already there and records no CRC64NVME (an older s3-archive's, with the tar's
/// SHA-256 instead). One still being written (`s3-archive | s3-put --index`) is this version's, with a CRC.
private func indexPredatesCRC(_ path: String) -> Bool {
    guard let data = FileManager.default.contents(atPath: path),
          let index = try? ArchiveIndex.decode(data, source: path) else { return false }
    return index.archive.crc64nvme == nil
}

/// The index at `path`, checked against the bytes the stream held (`sha256` and `crc` are nil when they were not
/// all read: a resumed upload, checked by size; `sha256` also when not asked for, `crc` without checksums). The
/// bytes read must match a whole-archive checksum the index records: its CRC64NVME, or an older index's SHA-256.
private func loadIndex(_ path: String, size: Int, sha256: String?, crc: CRC64NVME?) throws -> (ArchiveIndex, Data) {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw Failure.noInput("\(path): no index: s3-archive writes it when the archive is complete; did it fail?")
    }
    let index = try ArchiveIndex.decode(data, source: path)
    guard index.archive.size == size else {
        throw Failure.check("\(path): the index describes \(index.archive.size) bytes but \(size) were read: the archive is incomplete or the index is from another run")
    }
    var compared = false
    if let sha256, let recorded = index.archive.sha256 {
        guard sha256 == recorded else {
            throw Failure.check("\(path): the index is of another archive (SHA-256 \(recorded), the bytes read give \(sha256)): give the index s3-archive wrote for this stream")
        }
        compared = true
    }
    if let crc, let recorded = index.archive.crc64nvme {
        guard recorded == crc.base64 else {
            throw Failure.check("\(path): the index is of another archive (CRC64NVME \(recorded), the bytes read give \(crc.base64)): give the index s3-archive wrote for this stream")
        }
        compared = true
    }
    // Every byte was read, yet no checksum of them is one the index records: nothing would vouch for the match.
    if !compared, sha256 != nil || crc != nil {
        if index.archive.crc64nvme != nil {
            throw Failure.check("\(path): the index records the archive's CRC64NVME, which this upload did not take: drop --checksum none")
        }
        throw Failure.check("\(path): the index records no CRC64NVME (an older s3-archive wrote it): give s3-put the archive as a file, or archive the session again")
    }
    return (index, data)
}

/// Thrown before anything is stored when the archive is the latest generation's bytes.
private struct SameAsLatestGeneration: Error {}

/// Where an archive goes: the first key when it is free (or when replacing), else the generation after the latest;
/// and what the latest generation's index says of its bytes.
struct ArchiveTarget: Sendable {
    var number: Int
    var key: String
    var latest: (number: Int, key: String)?
    var latestTotals: ArchiveIndex.Totals?

    init(base: String, store: ObjectStore, replacing: Bool) throws {
        let stored = replacing ? [] : try Generation.stored(base, in: store)
        guard let newest = stored.last else {
            (number, key) = (1, base)
            return
        }
        number = newest.number + 1
        key = Generation.key(base, number: number)
        latest = (newest.number, newest.object.key)
        latestTotals = Self.totals(of: newest.object.key, in: store)
    }

    /// What the latest generation's index says of its bytes, asked again once the archive is read: an index not
    /// there when the generations were listed may be another run's (another host's), stored after its archive.
    func latestIndexTotals(in store: ObjectStore) -> ArchiveIndex.Totals? {
        latest.flatMap { Self.totals(of: $0.key, in: store) }
    }

    /// The size and checksums of the archive at `key`, from its index; nil without a readable index (another
    /// tool's object at the key: nothing to compare with, so a new generation).
    static func totals(of key: String, in store: ObjectStore) -> ArchiveIndex.Totals? {
        guard let bytes = try? store.get(key + ".index.json", range: nil),
              let index = try? ArchiveIndex.decode(Data(bytes), source: key + ".index.json") else { return nil }
        var totals = index.archive
        // An older index has only the tar's SHA-256, a new one only its CRC64NVME: the CRC the store keeps of the
        // archive, where it has one, lets the two be compared (else it is a new generation).
        if totals.crc64nvme == nil, let info = try? store.head(key), info.fullObjectCRC64NVME != nil {
            totals.crc64nvme = info.checksumCRC64NVME
        }
        return totals
    }

    /// The record of the latest generation, found to hold this very archive: skipped. The catalog learns it
    /// holds this session, or the sessions view would call the session changed, and the nightly retry, for ever.
    func latestRecord(url: StorageURL, store: ObjectStore, index: ArchiveIndex, catalog: Catalog?) throws -> Record {
        guard let latest, let info = try store.head(latest.key) else {
            throw Failure(.tryAgainLater, "\(url): its latest generation disappeared while this one was compared with it: run again")
        }
        let latestURL = url.with(key: latest.key)
        let layout = info.recordedLayout ?? PartLayout(partSize: max(info.size, 1))
        var record = Record(url: latestURL.description, bucket: latestURL.bucket, key: latestURL.key, size: info.size,
                            etag: info.etag, layout: layout, parts: ETag.partCount(info.etag) ?? 1,
                            storageClass: info.storageClass)
        record.sha256 = index.archive.sha256
        record.session = index.session
        record.index = latestURL.with(key: latestURL.key + ".index.json").description
        record.generation = latest.number > 1 ? latest.number : nil
        try catalog?.recordStored(record, source: nil, archive: index, sessionPath: index.source)
        record.skipped = true
        return record
    }
}

/// Hands the index read inside the upload's check back to the caller.
private final class IndexBox: Sendable {
    private let value = Mutex<(ArchiveIndex, Data)?>(nil)
    func set(_ index: ArchiveIndex, _ data: Data) { value.withLock { $0 = (index, data) } }
    func get() -> (ArchiveIndex, Data)? { value.withLock { $0 } }
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
        let ext = Paths.ext(name).lowercased()
        return byExtension[ext] ?? "application/octet-stream"
    }
}
