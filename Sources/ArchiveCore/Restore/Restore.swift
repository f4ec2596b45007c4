import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Everything s3-restore was asked to do.
public struct RestoreRequest: Sendable {
    /// Archive URLs (`s3://b/k.tar`, with `k.tar.index.json` beside it), prefixes (`s3://b/p/`) of archives or of
    /// one object per file, or `-` for s3-put records on standard input.
    public var urls: [String]
    public var destination: String
    public var tier = "Standard"
    public var days = 7
    public var wait = false
    public var timeout: TimeInterval = 48 * 3600
    public var includes: [String] = []
    public var dryRun = false
    public var concurrency = 4
    public var s3: S3Configuration.Overrides

    public init(urls: [String], destination: String, s3: S3Configuration.Overrides) {
        self.urls = urls
        self.destination = destination
        self.s3 = s3
    }
}

/// How a restore ended, for the exit status: 0 all good, 1 some files failed, 75 objects still being thawed.
public struct RestoreOutcome: Sendable {
    public var reports: [String] = []
    public var failedFiles = 0
    public var pendingObjects = 0

    public var exitStatus: ExitStatus {
        if pendingObjects > 0 { return .tryAgainLater }
        return failedFiles > 0 ? .checkFailed : .ok
    }
}

/// One thing to bring back: an archive with its index, or one object that is one file.
enum RestoreSource {
    case archive(url: StorageURL, key: String)
    case object(url: StorageURL, key: String, relativePath: String, info: ObjectInfo?)
    /// A whole prefix of per-object files, restored under one report.
    case objects(prefix: StorageURL, items: [(key: String, relativePath: String, info: ObjectInfo?)])
}

/// s3-restore's whole job. For each file: intact (hash matches) → skipped; damaged → replaced; missing →
/// fetched, archive members with ranged GETs of exactly their bytes. Cold objects are asked to thaw first, and
/// only when a byte of them is needed. Every file is written under a temporary name, hashed, then renamed; a
/// report per archive or prefix is left in the destination. Best effort: one failure does not stop the others.
public func restore(_ request: RestoreRequest, readRecords: () throws -> [Record],
                    warn: @escaping @Sendable (String) -> Void) throws -> RestoreOutcome {
    let destination = try Destination(request.destination)
    var sources: [RestoreSource] = []
    let stores = OpenStores(s3: request.s3)
    func store(for url: StorageURL) throws -> ObjectStore { try stores.store(for: url) }

    // 1. What to restore: every URL is looked at before anything is fetched.
    for text in request.urls {
        if text == "-" {
            for record in try readRecords() {
                let url = try StorageURL(parsing: record.url)
                if record.index != nil {
                    sources.append(.archive(url: url, key: Storage.key(of: url)))
                } else {
                    let key = Storage.key(of: url)
                    sources.append(.object(url: url, key: key, relativePath: Paths.name(key), info: nil))
                }
            }
            continue
        }
        let url = try StorageURL(parsing: text)
        let objectStore = try store(for: url)
        let key = Storage.key(of: url)
        if url.isPrefix {
            let listed = try objectStore.list(prefix: key)
            let keys = Set(listed.map(\.key))
            var items: [(key: String, relativePath: String, info: ObjectInfo?)] = []
            for object in listed where !object.key.hasSuffix(".index.json") {
                if keys.contains(object.key + ".index.json") {
                    sources.append(.archive(url: url.with(key: url.key + object.key.dropFirst(key.count)), key: object.key))
                } else {
                    items.append((object.key, String(object.key.dropFirst(key.count)), object))
                }
            }
            if !items.isEmpty { sources.append(.objects(prefix: url, items: items)) }
            if listed.isEmpty { throw Failure.noInput("\(url): nothing under this prefix: check the bucket and prefix") }
        } else if try objectStore.head(key + ".index.json") != nil {
            sources.append(.archive(url: url, key: key))
        } else if let info = try objectStore.head(key) {
            sources.append(.object(url: url, key: key, relativePath: Paths.name(key), info: info))
        } else {
            throw Failure.noInput("\(url): no such object (and no \(url.key).index.json): check the URL")
        }
    }

    var outcome = RestoreOutcome()
    let started = Date()
    // Files are renamed into place unsynced; one flush of the file system before each report makes them durable.
    defer { if !request.dryRun { syncFileSystem(containing: destination.root) } }
    for source in sources {
        switch source {
        case .archive(let url, let key):
            let objectStore = try store(for: url)
            let restorer = ArchiveRestorer(store: objectStore, url: url, key: key, destination: destination,
                                           request: request, warn: warn)
            guard let report = try restorer.run(started: started) else {
                outcome.pendingObjects += 1
                continue
            }
            outcome.failedFiles += report.failed
            if !request.dryRun {
                syncFileSystem(containing: destination.root)
                outcome.reports.append(try report.write(in: destination.root))
            }
        case .object(let url, let key, let relative, let info):
            let objectStore = try store(for: url)
            let restorer = ObjectRestorer(store: objectStore, destination: destination, request: request, warn: warn)
            var report = StatusReport(source: url.description, sourceLabel: "Object", session: Paths.name(relative),
                                      bucket: bucketName(url), destination: destination.root, started: started)
            guard let files = try restorer.run([(key, relative, info)]) else {
                outcome.pendingObjects += 1
                continue
            }
            report.files = files
            outcome.failedFiles += report.failed
            if !request.dryRun { outcome.reports.append(try report.write(in: destination.root)) }
        case .objects(let prefix, let items):
            let objectStore = try store(for: prefix)
            let restorer = ObjectRestorer(store: objectStore, destination: destination, request: request, warn: warn)
            let id = Paths.name(prefix.key)
            var report = StatusReport(source: prefix.description, sourceLabel: "Prefix", session: id.isEmpty ? "prefix" : id,
                                      bucket: bucketName(prefix), destination: destination.root, started: started)
            guard let files = try restorer.run(items) else {
                outcome.pendingObjects += 1
                continue
            }
            report.files = files
            outcome.failedFiles += report.failed
            if !request.dryRun { outcome.reports.append(try report.write(in: destination.root)) }
        }
    }
    return outcome
}

func bucketName(_ url: StorageURL) -> String {
    if case .s3(let bucket, _) = url { return bucket }
    return "(local directory)"
}

/// Cold objects: readable now, or asked to thaw (once each: never while a restore is under way, never for an
/// object not in cold storage), then waited for together with `--wait`. Returns false when some object is still
/// frozen and the caller should come back later.
func ensureReadable(_ store: ObjectStore, keys: [String], request: RestoreRequest,
                    warn: @Sendable (String) -> Void) throws -> Bool {
    var frozen: [(key: String, storageClass: String)] = []
    for key in keys {
        let url = store.url(of: key)
        guard let info = try store.head(key) else { throw Failure.noInput("\(url): no such object") }
        if info.isReadable { continue }
        if info.restoreInProgress {
            warn("\(url): a restore from \(info.storageClass) is already under way")
        } else if request.dryRun {
            warn("(dry run) would request a restore of \(url) from \(info.storageClass) (tier \(request.tier), \(request.days) days)")
        } else {
            try store.requestRestore(key, days: request.days, tier: request.tier)
            warn("\(url): restore requested from \(info.storageClass) (tier \(request.tier), \(request.days) days)")
            // Some stores (and Expedited retrievals) are done at once.
            if try store.head(key)?.isReadable == true { continue }
        }
        frozen.append((key, info.storageClass))
    }
    if frozen.isEmpty { return true }
    guard request.wait, !request.dryRun else {
        let deep = frozen.contains { $0.storageClass == "DEEP_ARCHIVE" }
        let hint = deep ? (request.tier == "Bulk" ? "up to 48 hours" : "up to 12 hours")
            : (request.tier == "Expedited" ? "minutes" : request.tier == "Bulk" ? "5-12 hours" : "3-5 hours")
        if !request.dryRun {
            warn("\(frozen.count) object(s) not readable yet (typically \(hint)): run the same command again later, or add --wait")
        }
        return false
    }
    let deadline = Date().addingTimeInterval(request.timeout)
    var pause = 2.0
    var waiting = frozen.map(\.key)
    while !waiting.isEmpty {
        guard Date() < deadline else {
            throw Failure(.tryAgainLater, "\(waiting.count) object(s) still being restored after waiting \(Int(request.timeout)) s: run again later")
        }
        Thread.sleep(forTimeInterval: min(pause, max(0, deadline.timeIntervalSinceNow)))
        pause = min(pause * 2, 900)
        waiting = try waiting.filter { key in
            guard let now = try store.head(key) else { throw Failure.noInput("\(store.url(of: key)): the object disappeared") }
            return !now.isReadable
        }
    }
    return true
}

/// Restores the files of one archive, using its index to fetch only what is missing or damaged.
struct ArchiveRestorer {
    let store: ObjectStore
    let url: StorageURL
    let key: String
    let destination: Destination
    let request: RestoreRequest
    let warn: @Sendable (String) -> Void

    /// The report, or nil when the archive is in cold storage and not readable yet.
    func run(started: Date) throws -> StatusReport? {
        let indexBytes = try store.get(key + ".index.json", range: nil)
        let index = try ArchiveIndex.decode(Data(indexBytes), source: url.description + ".index.json")
        var report = StatusReport(source: url.description, sourceLabel: "Archive", session: index.session,
                                  bucket: bucketName(url), destination: destination.root, started: started)
        let outcomes = Outcomes()
        var fetch: [FetchFile] = []
        var links: [(ArchiveIndex.Entry, String)] = []
        var directories: [(ArchiveIndex.Entry, String)] = []
        var order: [String] = []

        // A path through one of this archive's own symlinks is refused too, though the link does not exist yet.
        let linkPaths = Set(index.entries.filter { $0.type == "symlink" }.map(\.path))
        for entry in index.entries where isIncluded(entry.path) {
            let path: String
            if let link = ancestors(of: entry.path).first(where: linkPaths.contains) {
                if entry.type != "directory" { order.append(entry.path) }
                outcomes.set(entry.path, .failed("refused: the path goes through the archive's symbolic link \(link)"))
                continue
            }
            switch destination.resolve(entry.path) {
            case .failure(let refusal):
                if entry.type != "directory" { order.append(entry.path) }
                outcomes.set(entry.path, .failed(refusal.description))
                continue
            case .success(let resolved): path = resolved
            }
            switch entry.type {
            case "directory":
                if !request.dryRun { try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
                directories.append((entry, path))
            case "symlink", "hardlink":
                order.append(entry.path)
                links.append((entry, path))
            default:
                order.append(entry.path)
                let existing = try? FileReader.sha256(of: path)
                if let existing, existing == entry.sha256 {
                    outcomes.set(entry.path, .skipped)
                } else if let offset = entry.offset, entry.sha256 != nil {
                    fetch.append(FetchFile(entry: entry, offset: offset, path: path, damaged: existing != nil))
                } else {
                    outcomes.set(entry.path, .failed("the index has no offset or hash for this file"))
                }
            }
        }

        if !fetch.isEmpty {
            if request.dryRun {
                for file in fetch { warn("(dry run) would fetch \(file.entry.path) (\(ByteSize.format(file.entry.size)))") }
            }
            guard try ensureReadable(store, keys: [key], request: request, warn: warn) else { return nil }
            if !request.dryRun { fetchRanges(coalesce(fetch), outcomes: outcomes) }
        }
        if !request.dryRun {
            for (entry, path) in links { outcomes.set(entry.path, makeLink(entry, at: path, outcomes: outcomes)) }
            // Folders last and deepest first: writing their files changed their times.
            for (entry, path) in directories.reversed() {
                setAttributes(path: path, mode: entry.mode, mtime: entry.mtime)
            }
        }
        report.files = order.map { ($0, outcomes.get($0) ?? .skipped) }
        return report
    }

    /// `a/b/c` → `a`, `a/b`.
    func ancestors(of path: String) -> [String] {
        var result: [String] = []
        var current = Paths.parent(path)
        while !current.isEmpty, current != "/" {
            result.append(current)
            current = Paths.parent(current)
        }
        return result
    }

    func isIncluded(_ path: String) -> Bool {
        request.includes.isEmpty || request.includes.contains { pattern in
            fnmatch(pattern, path, 0) == 0 || fnmatch(pattern, Paths.name(path), 0) == 0
                || fnmatch(pattern, String(path.drop { $0 != "/" }.dropFirst()), 0) == 0
        }
    }

    /// Neighbouring files (only tar headers between them: under 64 KiB) go in one ranged GET of up to 256 MiB.
    func coalesce(_ files: [FetchFile]) -> [FetchRange] {
        var ranges: [FetchRange] = []
        for file in files.sorted(by: { $0.offset < $1.offset }) {
            let end = file.offset + file.entry.size
            if var last = ranges.last, file.offset - last.end < 64 << 10, end - last.start <= 256 << 20 {
                last.files.append(file)
                last.end = max(last.end, end)
                ranges[ranges.count - 1] = last
            } else {
                ranges.append(FetchRange(start: file.offset, end: end, files: [file]))
            }
        }
        return ranges
    }

    /// Fetches the ranges on the transfer engine, `concurrency` requests at once whatever the core count; each
    /// file's bytes are written to a temporary name, hashed, and renamed only when the SHA-256 matches the index.
    func fetchRanges(_ ranges: [FetchRange], outcomes: Outcomes) {
        let engine = TransferEngine(concurrency: min(request.concurrency, max(1, ranges.count)))
        engine.forEach(ranges) { fetch($0, outcomes: outcomes) }
    }

    private func fetch(_ range: FetchRange, outcomes: Outcomes) {
        var position = range.start
        var current = 0
        var writer: FileSink?
        let started = Date()
        func open(_ file: FetchFile) throws -> FileSink {
            try destination.makeParents(of: file.path)
            return FileSink(file: file, writer: try AtomicFileWriter(path: file.path, createDirectories: false))
        }
        func close(_ sink: FileSink) {
            let file = sink.file
            let digest = sink.digest.finish().hex
            guard digest == file.entry.sha256 else {
                sink.writer.discard()
                outcomes.set(file.entry.path, .failed("SHA-256 mismatch after download (the archive or index is damaged)"))
                return
            }
            sink.writer.setAttributes(mode: file.entry.mode, mtime: file.entry.mtime)
            do {
                try sink.writer.commit(durable: false)
                outcomes.set(file.entry.path, file.damaged ? .healed(reason: "hash mismatch")
                    : .downloaded(bytes: file.entry.size, seconds: Date().timeIntervalSince(started)))
            } catch {
                outcomes.set(file.entry.path, .failed("\(error)"))
            }
        }
        do {
            // Empty files need no bytes from the server.
            while current < range.files.count, range.files[current].entry.size == 0 {
                close(try open(range.files[current]))
                current += 1
            }
            if current < range.files.count {
                try store.download(key, range: range.start...(range.end - 1)) { chunk in
                    var offset = 0
                    while offset < chunk.count, current < range.files.count {
                        let file = range.files[current]
                        let fileEnd = file.offset + file.entry.size
                        if position < file.offset {
                            let skip = min(file.offset - position, chunk.count - offset)
                            offset += skip
                            position += skip
                            continue
                        }
                        if writer == nil { writer = try open(file) }
                        let take = min(fileEnd - position, chunk.count - offset)
                        let piece = UnsafeRawBufferPointer(rebasing: chunk[offset..<(offset + take)])
                        writer!.digest.update(piece)
                        try writer!.writer.write(piece)
                        offset += take
                        position += take
                        if position == fileEnd {
                            close(writer!)
                            writer = nil
                            current += 1
                            while current < range.files.count, range.files[current].entry.size == 0 {
                                close(try open(range.files[current]))
                                current += 1
                            }
                        }
                    }
                }
            }
            if current < range.files.count { throw Failure.io("the download ended early") }
        } catch {
            writer?.writer.discard()
            for file in range.files[current...] where outcomes.get(file.entry.path) == nil {
                outcomes.set(file.entry.path, .failed("\(error)"))
            }
        }
    }

    /// Symlinks are recreated as they were; hard links point at their (restored) target.
    func makeLink(_ entry: ArchiveIndex.Entry, at path: String, outcomes: Outcomes) -> FileOutcome {
        let target = entry.target ?? ""
        do {
            try destination.makeParents(of: path)
            // Only a file or a link is ever replaced; a folder in the way (with someone's files) is left alone.
            var info = stat()
            if lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR {
                return .failed("a folder is in the way: move \(path) aside and run again")
            }
            if entry.type == "symlink" {
                if let existing = try? FileManager.default.destinationOfSymbolicLink(atPath: path), existing == target {
                    return .skipped
                }
                unlink(path)
                try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: target)
                return .downloaded(bytes: 0, seconds: 0)
            }
            guard case .success(let targetPath) = destination.resolve(target) else {
                return .failed("refused: the hard link's target \(target) is outside the destination")
            }
            if let outcome = outcomes.get(target), !outcome.isSuccess { return .failed("its target \(target) failed") }
            if (try? FileReader.sha256(of: path)) == entry.sha256 { return .skipped }
            unlink(path)
            try FileManager.default.linkItem(atPath: targetPath, toPath: path)
            return .downloaded(bytes: 0, seconds: 0)
        } catch {
            return .failed("cannot make the link: \(error.localizedDescription)")
        }
    }
}

/// A file to fetch from an archive: its index entry, where its bytes are, where it goes.
struct FetchFile: Sendable {
    let entry: ArchiveIndex.Entry
    let offset: Int
    let path: String
    let damaged: Bool
}

/// One ranged GET: the bytes [start, end) of the archive and the files inside them, in order.
struct FetchRange: Sendable {
    var start: Int
    var end: Int
    var files: [FetchFile]
}

/// A file being written from a download, with its running SHA-256.
final class FileSink {
    let file: FetchFile
    let writer: AtomicFileWriter
    let digest = Digest(.sha256)
    init(file: FetchFile, writer: AtomicFileWriter) {
        self.file = file
        self.writer = writer
    }
}

/// Each file's outcome, set by whichever worker finished it.
final class Outcomes: Sendable {
    private let byPath = Mutex<[String: FileOutcome]>([:])
    func set(_ path: String, _ outcome: FileOutcome) { byPath.withLock { $0[path] = outcome } }
    func get(_ path: String) -> FileOutcome? { byPath.withLock { $0[path] } }
}
