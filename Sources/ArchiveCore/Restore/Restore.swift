import Foundation
import Synchronization
import SystemPackage

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
    /// Each archive URL names its first generation; restore its newest generation instead (found by listing).
    public var latest = false
    /// Keep setuid, setgid and sticky bits as the index records them (GNU tar's --same-permissions); by default
    /// they are dropped: an index is data from a bucket, and root restoring it must not make setuid programs.
    public var samePermissions = false
    /// The file holding the objects' customer key (SSE-C), sent with every read of them.
    public var customerKeyFile: String?
    public var s3: S3Configuration.Overrides
    /// Bytes fetched of those to fetch, and files done, per archive or prefix; nil: no display (not a terminal).
    public var progress: TransferProgress?

    public init(urls: [String], destination: String, s3: S3Configuration.Overrides) {
        self.urls = urls
        self.destination = destination
        self.s3 = s3
    }
}

/// How a restore ended, for the exit status: 0 all good, 75 objects still being thawed, else 1 when some files
/// failed, or the status of the first URL that could not be restored at all (66 no such object, 77 refused...).
public struct RestoreOutcome: Sendable {
    public var reports: [String] = []
    public var failedFiles = 0
    public var pendingObjects = 0
    /// URLs (archives, prefixes, records) that could not be restored at all, each with why.
    public var failedSources: [(url: String, error: String, status: ExitStatus)] = []

    public var exitStatus: ExitStatus {
        if pendingObjects > 0 { return .tryAgainLater }
        if let first = failedSources.first { return first.status }
        return failedFiles > 0 ? .checkFailed : .ok
    }
}

/// One thing to bring back: an archive with its index, or one object that is one file.
enum RestoreSource {
    /// `generation`: for --latest, which generation of the URL given this is, for the report's header.
    case archive(url: StorageURL, key: String, generation: String? = nil)
    case object(url: StorageURL, key: String, relativePath: String, info: ObjectInfo?)
    /// A whole prefix of per-object files, restored under one report; `folders`: its folder markers' paths.
    case objects(prefix: StorageURL, items: [(key: String, relativePath: String, info: ObjectInfo?)], folders: [String])

    /// The URL, the name its report goes by, and its label, for the report of a source that failed as a whole.
    var identity: (url: String, name: String, label: String) {
        switch self {
        case .archive(let url, let key, _): return (url.description, Paths.name(key), "Archive")
        case .object(let url, _, let relative, _): return (url.description, Paths.name(relative), "Object")
        case .objects(let prefix, _, _): return (prefix.description, prefixName(prefix), "Prefix")
        }
    }
}

/// A prefix's report goes by its last folder's name.
func prefixName(_ prefix: StorageURL) -> String {
    let id = Paths.name(prefix.key)
    return id.isEmpty ? "prefix" : id
}

/// s3-restore's whole job. For each file: intact (hash matches) → skipped; damaged → replaced; missing →
/// fetched, archive members with ranged GETs of exactly their bytes. Cold objects are asked to thaw first, and
/// only when a byte of them is needed. Every file is written under a temporary name, hashed, then renamed; a
/// report per archive or prefix is left in the destination. Best effort: one failure does not stop the others.
public func restore(_ request: RestoreRequest, readRecords: () throws -> [Record],
                    warn: @escaping @Sendable (String) -> Void) throws -> RestoreOutcome {
    // A key file that cannot be used stops the run before the destination is made.
    let customerKey = try request.customerKeyFile.map { try CustomerKey(file: $0) }
    let destination = try Destination(request.destination, create: !request.dryRun)
    let stores = OpenStores(s3: request.s3, customerKey: customerKey)
    // Every URL is looked at before anything is fetched; one that cannot be is a failure of its own.
    let sources = try restoreSources(request, stores: stores, readRecords: readRecords)

    var outcome = RestoreOutcome()
    let started = Date()
    for planned in sources {
        let restored: Restored
        switch planned {
        case .failed(let url, let name, let label, let error):
            restored = failed(url: url, name: name, label: label, error: error, destination: destination, started: started)
        case .source(let source):
            do {
                restored = try restoreOne(source, stores: stores, destination: destination, request: request,
                                          started: started, warn: warn)
            } catch let error where !(error is LocalFileError) {
                // Best effort, like cat(1): one archive whose index cannot be read, or one transport error, is
                // that archive's failure, and the URLs after it are still restored.
                let (url, name, label) = source.identity
                restored = failed(url: url, name: name, label: label, error: error, destination: destination, started: started)
            }
        }
        outcome.pendingObjects += restored.pending
        if let failure = restored.failure {
            warn(failure.message)
            outcome.failedSources.append((failure.url, failure.message, failure.status))
        }
        guard let report = restored.report else { continue }
        outcome.failedFiles += report.failed - restored.pending
        if !request.dryRun {
            // The restorers flush the files they fetched and fail those a failed flush lost (their lines say so).
            // This flush covers what came after (links, folders); one that fails is said and fails the run, and
            // the report, true of each file, is still written, and the next URL still restored.
            do { try destination.flush() } catch {
                let message = "\(destination.root): cannot flush the restored files to disk: \((error as? Errno)?.description.lowercased() ?? "\(error)"): run again"
                warn(message)
                outcome.failedSources.append((report.source, message, .checkFailed))
            }
            outcome.reports.append(try report.write(in: destination.root))
        }
    }
    return outcome
}

/// What restoring one URL gave: its report (nil when only waiting for thaws), the objects still thawing, and,
/// when the URL could not be restored at all, why.
struct Restored {
    var report: StatusReport?
    var pending: Int
    var failure: (url: String, message: String, status: ExitStatus)?
}

/// A URL that could not be restored at all: a report of one FAILURE line named after the URL's object, and the
/// message for stderr. A wait for a thaw that ran out of time counts as still pending.
private func failed(url: String, name: String, label: String, error: Error, destination: Destination,
                    started: Date) -> Restored {
    let message = String(describing: error)
    let status = (error as? ReportableError)?.exitStatus ?? .checkFailed
    var report = StatusReport(source: url, sourceLabel: label, session: name,
                              bucket: (try? StorageURL(parsing: url))?.bucket ?? "(local directory)",
                              destination: destination.root, started: started)
    report.files = [(ArchivePath(name), .failed(message))]
    return Restored(report: report, pending: status == .tryAgainLater ? 1 : 0,
                    failure: (url, message.contains(url) ? message : "\(url): \(message)", status))
}

/// One URL as planned: something to restore, or a failure already (no such object, a listing that broke).
enum PlannedSource {
    case source(RestoreSource)
    case failed(url: String, name: String, label: String, error: Error)
}

/// What the URLs name: archives (with an index beside them), single objects, and prefixes of per-object files.
/// A URL that names nothing, or cannot be looked at, is planned as a failure and the others are still restored;
/// records that do not parse stop the run (exit 65), as a usage error would.
private func restoreSources(_ request: RestoreRequest, stores: OpenStores,
                            readRecords: () throws -> [Record]) throws -> [PlannedSource] {
    var sources: [PlannedSource] = []
    for text in request.urls {
        if text == "-" {
            let records = try readRecords()
            let base = commonFolder(of: records.filter { $0.index == nil }.compactMap { try? Storage.key(of: StorageURL(parsing: $0.url)) })
            for record in records {
                do {
                    let url = try StorageURL(parsing: record.url)
                    let key = Storage.key(of: url)
                    let relative = String(key.dropFirst(base.count))
                    if record.index != nil {
                        sources.append(.source(.archive(url: url, key: key)))
                    } else if isIncluded(ArchivePath(relative), by: request.includes) {
                        sources.append(.source(.object(url: url, key: key, relativePath: relative, info: nil)))
                    }
                } catch {
                    sources.append(.failed(url: record.url, name: Paths.name(record.url), label: "Object", error: error))
                }
            }
            continue
        }
        do {
            sources += try look(at: text, request: request, stores: stores).map { .source($0) }
        } catch {
            let isPrefix = text.hasSuffix("/")
            let name = isPrefix ? Paths.name(String(text.dropLast())) : Paths.name(text)
            sources.append(.failed(url: text, name: name.isEmpty ? "prefix" : name, label: isPrefix ? "Prefix" : "Archive",
                                   error: error))
        }
    }
    return placeObjects(sources)
}

/// What one URL names: an archive, an object, or a prefix's archives and objects.
private func look(at text: String, request: RestoreRequest, stores: OpenStores) throws -> [RestoreSource] {
    var url = try StorageURL(parsing: text)
    let objectStore = try stores.store(for: url)
    var key = Storage.key(of: url)
    var generation: String?
    if request.latest, !url.isPrefix, let newest = try Generation.stored(key, in: objectStore).last {
        generation = "\(newest.number), the latest of \(url)"
        key = newest.object.key
        url = url.with(key: key)
    }
    if url.isPrefix { return try prefixSources(url, key: key, store: objectStore, includes: request.includes) }
    if try objectStore.head(key + ".index.json") != nil {
        return [.archive(url: url, key: key, generation: generation)]
    } else if let info = try objectStore.head(key) {
        return isIncluded(ArchivePath(Paths.name(key)), by: request.includes)
            ? [.object(url: url, key: key, relativePath: Paths.name(key), info: info)] : []
    }
    throw Failure.noInput("\(url): no such object (and no \(url.key).index.json): check the URL")
}

/// A prefix's archives (objects with an index beside them), and its other objects under one report.
private func prefixSources(_ url: StorageURL, key: String, store: ObjectStore, includes: [String]) throws -> [RestoreSource] {
    let listed = try store.list(prefix: key)
    if listed.isEmpty { throw Failure.noInput("\(url): nothing under this prefix: check the bucket and prefix") }
    let keys = Set(listed.map(\.key))
    var sources: [RestoreSource] = []
    var items: [(key: String, relativePath: String, info: ObjectInfo?)] = []
    var folders: [String] = []
    for object in listed where !object.key.hasSuffix(".index.json") {
        if object.key.hasSuffix("/"), object.size == 0 {
            // A folder marker (the S3 console's "Create folder", and other clients): a folder, never an
            // empty file of its name, which would stand in the way of every key below it.
            let folder = String(object.key.dropFirst(key.count).dropLast())
            if !folder.isEmpty, isIncluded(ArchivePath(folder), by: includes) { folders.append(folder) }
        } else if keys.contains(object.key + ".index.json") {
            sources.append(.archive(url: url.with(key: url.key + object.key.dropFirst(key.count)), key: object.key))
        } else if isIncluded(ArchivePath(String(object.key.dropFirst(key.count))), by: includes) {
            items.append((object.key, String(object.key.dropFirst(key.count)), object))
        }
    }
    if !items.isEmpty || !folders.isEmpty { sources.append(.objects(prefix: url, items: items, folders: folders)) }
    return sources
}

/// Restores one archive, object or prefix: its report (none while an archive, or every object needed, still
/// thaws) and how many objects are still thawing.
private func restoreOne(_ source: RestoreSource, stores: OpenStores, destination: Destination, request: RestoreRequest,
                        started: Date, warn: @escaping @Sendable (String) -> Void) throws -> Restored {
    switch source {
    case .archive(let url, let key, let generation):
        let restorer = ArchiveRestorer(store: try stores.store(for: url), url: url, key: key, generation: generation,
                                       destination: destination, request: request, warn: warn)
        let report = try restorer.run(started: started)
        return Restored(report: report, pending: report == nil ? 1 : 0)
    case .object(let url, let key, let relative, let info):
        let restorer = ObjectRestorer(store: try stores.store(for: url), destination: destination, request: request, warn: warn)
        request.progress?.setLabel(Paths.name(relative))
        var report = StatusReport(source: url.description, sourceLabel: "Object", session: Paths.name(relative),
                                  bucket: url.bucket ?? "(local directory)", destination: destination.root, started: started)
        let (files, pending) = try restorer.run([(key, relative, info)])
        if pending > 0 { return Restored(report: nil, pending: pending) }
        report.files = files.map { (ArchivePath($0.path), $0.outcome) }
        return Restored(report: report, pending: 0)
    case .objects(let prefix, let items, let folders):
        let restorer = ObjectRestorer(store: try stores.store(for: prefix), destination: destination, request: request, warn: warn)
        request.progress?.setLabel(prefixName(prefix))
        var report = StatusReport(source: prefix.description, sourceLabel: "Prefix", session: prefixName(prefix),
                                  bucket: prefix.bucket ?? "(local directory)", destination: destination.root, started: started)
        // Folders are not report lines (as in an archive's report), unless one cannot be made.
        let folderFailures = request.dryRun ? [] : folders.compactMap { makeFolder($0, in: destination) }
        // The readable objects of a prefix are fetched now, while its cold ones thaw: their lines say so.
        let (files, pending) = try restorer.run(items)
        if pending > 0, pending == files.count, folderFailures.isEmpty { return Restored(report: nil, pending: pending) }
        report.files = folderFailures + files.map { (ArchivePath($0.path), $0.outcome) }
        return Restored(report: report, pending: pending)
    }
}

/// Makes the folder a folder marker names (`run1/` under the prefix); its report line when that fails.
private func makeFolder(_ relative: String, in destination: Destination) -> (path: ArchivePath, outcome: FileOutcome)? {
    let line = ArchivePath(relative + "/")
    switch destination.resolve(ArchivePath(relative)) {
    case .failure(let refusal): return (line, .failed(refusal.description))
    case .success(let path):
        do { try Directory.create(path) } catch {
            return (line, .failed("cannot create the folder: \((error as? Errno)?.description ?? "\(error)")"))
        }
        return nil
    }
}

/// Restores the files of one archive, using its index to fetch only what is missing or damaged.
struct ArchiveRestorer {
    let store: ObjectStore
    let url: StorageURL
    let key: String
    /// Set when --latest chose this generation: the report's header says which.
    var generation: String?
    let destination: Destination
    let request: RestoreRequest
    let warn: @Sendable (String) -> Void

    /// What the index asks for, sorted out before any byte moves.
    private struct Plan {
        var fetch: [FetchFile] = []
        var links: [(ArchiveIndex.Entry, FilePath)] = []
        var directories: [(ArchiveIndex.Entry, FilePath)] = []
        /// The report's lines, in index order; folders are listed only when they failed.
        var order: [ArchivePath] = []
        var folders: Set<ArchivePath> = []
    }

    /// The index object's bytes, checked against what the store says of them before a single path is trusted:
    /// the whole-object CRC64NVME it keeps, else the ETag where that is the MD5 of one PUT. A byte changed in
    /// transit or at rest would otherwise restore one file under another's name.
    private func fetchCheckedIndex() throws -> [UInt8] {
        try ArchiveIndex.fetchChecked(key + ".index.json", in: store, archiveURL: url.description,
                                      consequence: "nothing restored from it; try again, and if it persists, s3-verify the archive")
    }

    /// The report, or nil when the archive is in cold storage and not readable yet.
    func run(started: Date) throws -> StatusReport? {
        let indexBytes = try fetchCheckedIndex()
        let index = try ArchiveIndex.decode(Data(indexBytes), source: url.description + ".index.json")
        var report = StatusReport(source: url.description, sourceLabel: "Archive", session: index.session,
                                  bucket: url.bucket ?? "(local directory)", destination: destination.root, started: started)
        report.generation = generation
        if request.dryRun, let generation { warn("(dry run) restoring \(url): generation \(generation)") }
        let outcomes = Outcomes()
        let plan = try makePlan(index, outcomes: outcomes)
        if !plan.fetch.isEmpty {
            if request.dryRun {
                for file in plan.fetch { warn("(dry run) would fetch \(file.entry.path) (\(ByteSize.format(file.entry.size)))") }
            }
            guard try ensureReadable(store, keys: [key], request: request, warn: warn).isEmpty else { return nil }
            if !request.dryRun {
                // The archive's ETag, so that a ranged GET resumed after a cut is known to read the same archive.
                let etag = try store.head(key)?.etag
                let ranges = coalesce(plan.fetch)
                request.progress?.setLabel(index.session)
                request.progress?.start(totalBytes: ranges.reduce(0) { $0 + $1.end - $1.start }, totalItems: plan.fetch.count)
                fetchRanges(ranges, etag: etag, outcomes: outcomes)
                request.progress?.finish(leavingSummary: true)
                flushFetched(plan.fetch, outcomes: outcomes)
            }
        }
        if !request.dryRun {
            for (entry, path) in plan.links { outcomes.set(entry.path, makeLink(entry, at: path, outcomes: outcomes)) }
            setFolders(plan.directories, outcomes: outcomes)
        }
        report.files = plan.order.compactMap { path in
            let outcome = outcomes.get(path)
            if plan.folders.contains(path) { return outcome.flatMap { $0.isSuccess ? nil : (path, $0) } }
            return (path, outcome ?? .skipped)
        }
        return report
    }

    /// The files are renamed into place unflushed; one checked flush of the destination's file system (syncfs,
    /// names included) then makes them durable: an fsync of each file and folder costs ~50× more with 100,000
    /// small files. A flush that fails fails every file fetched here: none is known to be on the disk, and each is
    /// removed where it can be, so that the next run, not finding it, fetches it again rather than trusting
    /// bytes that may only be in memory.
    private func flushFetched(_ files: [FetchFile], outcomes: Outcomes) {
        do { try destination.flush() } catch {
            let reason = "\(destination.root): cannot flush the restored files to disk: \((error as? Errno)?.description.lowercased() ?? "\(error)"): run again"
            for file in files where outcomes.get(file.entry.path)?.isSuccess ?? false {
                try? FileOperations.remove(file.path)
                outcomes.set(file.entry.path, .failed(reason))
            }
        }
    }

    /// The permission bits restored: setuid, setgid and sticky only with --same-permissions.
    func permissions(_ mode: UInt32) -> UInt32 { mode & (request.samePermissions ? 0o7777 : 0o777) }

    /// Folders last and deepest first: writing their files changed their times. Through descriptors opened with
    /// O_NOFOLLOW from the destination down: a folder that is (or became) a symlink is never followed out of it,
    /// and fails with its name in the report.
    private func setFolders(_ directories: [(ArchiveIndex.Entry, FilePath)], outcomes: Outcomes) {
        for (entry, path) in directories.reversed() where outcomes.get(entry.path) == nil {
            do {
                try FileAttributes.setFolder(path, below: destination.rootPath, mode: permissions(entry.mode), mtime: entry.mtime)
            } catch {
                let reason = [Errno.tooManySymbolicLinkLevels, .notDirectory].contains(error as? Errno)
                    ? "refused: a symbolic link or a file is in the way of this folder: move \(path.displayString) aside and run again"
                    : "cannot set the folder's mode and time: \((error as? Errno)?.description ?? "\(error)")"
                outcomes.set(entry.path, .failed(reason))
            }
        }
    }

    /// Sorts every entry into fetch, link or folder; refused paths and intact files get their outcome here.
    private func makePlan(_ index: ArchiveIndex, outcomes: Outcomes) throws -> Plan {
        var plan = Plan()
        // A path through one of this archive's own symlinks is refused too, though the link does not exist yet.
        let linkPaths = Set(index.entries.filter { $0.type == "symlink" }.map(\.path))
        for entry in index.entries where isIncluded(entry.path) {
            let path: FilePath
            plan.order.append(entry.path)
            if entry.type == "directory" { plan.folders.insert(entry.path) }
            if let link = entry.path.ancestors.first(where: linkPaths.contains) {
                outcomes.set(entry.path, .failed("refused: the path goes through the archive's symbolic link \(link)"))
                continue
            }
            switch destination.resolve(entry.path) {
            case .failure(let refusal):
                outcomes.set(entry.path, .failed(refusal.description))
                continue
            case .success(let resolved): path = resolved
            }
            switch entry.type {
            case "directory":
                if let refusal = folderRefusal(at: path) {
                    outcomes.set(entry.path, .failed(refusal))
                } else {
                    if !request.dryRun { try? Directory.create(path) }
                    plan.directories.append((entry, path))
                }
            case "symlink", "hardlink":
                plan.links.append((entry, path))
            default:
                let existing = try? FileReader.sha256(of: path)
                if let existing, existing == entry.sha256 {
                    outcomes.set(entry.path, .skipped)
                } else if let offset = entry.offset, entry.sha256 != nil {
                    plan.fetch.append(FetchFile(entry: entry, offset: offset, path: path, mode: permissions(entry.mode),
                                                damaged: existing != nil))
                } else {
                    outcomes.set(entry.path, .failed("the index has no offset or hash for this file"))
                }
            }
        }
        return plan
    }

    /// Why the archive's folder cannot be at `path`: something that is not a folder is there (a symlink, which
    /// could lead anywhere, or a file); nil when a folder is there or nothing is.
    private func folderRefusal(at path: FilePath) -> String? {
        guard let status = try? FileStatus.ifExists(path), status.kind != .directory else { return nil }
        let what = status.kind == .symlink ? "a symbolic link" : "something that is not a folder"
        return "refused: \(what) is in the way of this folder: move \(path.displayString) aside and run again"
    }

    /// An `--include` pattern matches the archive path, its last name, or the path below the session folder.
    func isIncluded(_ path: ArchivePath) -> Bool { ArchiveCore.isIncluded(path, by: request.includes) }

    /// Neighbouring files (only tar headers between them: under 64 KiB) go in one ranged GET of up to 256 MiB,
    /// which starts with the tar header of its first file.
    /// Ranges grow in place: a copy of the last range per file would make 100,000 files quadratic.
    func coalesce(_ files: [FetchFile]) -> [FetchRange] {
        var ranges: [FetchRange] = []
        for file in files.sorted(by: { $0.offset < $1.offset }) {
            let end = file.offset + file.entry.size
            if let last = ranges.indices.last, file.offset - ranges[last].end < 64 << 10, end - ranges[last].start <= 256 << 20 {
                ranges[last].files.append(file)
                ranges[last].end = max(ranges[last].end, end)
            } else {
                // From the tar header before the file's data: it must name the file (UstarBlock).
                ranges.append(FetchRange(start: max(0, file.offset - UstarBlock.size), end: end, files: [file]))
            }
        }
        return ranges
    }

    /// Fetches the ranges on the transfer engine, `concurrency` requests at once whatever the core count; each
    /// file's bytes are written to a temporary name, hashed, and renamed only when the SHA-256 matches the index.
    func fetchRanges(_ ranges: [FetchRange], etag: String?, outcomes: Outcomes) {
        let engine = TransferEngine(concurrency: min(request.concurrency, max(1, ranges.count)))
        engine.forEach(ranges) { fetch($0, etag: etag, outcomes: outcomes) }
    }

    private func fetch(_ range: FetchRange, etag: String?, outcomes: Outcomes) {
        let splitter = RangeSplitter(range: range, destination: destination, outcomes: outcomes)
        do {
            splitter.finishEmptyFiles()
            if !splitter.isComplete {
                try store.download(key, range: range.start...(range.end - 1), ifMatch: etag) { chunk in
                    try splitter.receive(chunk)
                    request.progress?.add(bytes: chunk.count)
                }
            }
            request.progress?.add(bytes: 0, items: range.files.count)
            if !splitter.isComplete { throw Failure.io("the download ended early") }
        } catch {
            splitter.fail(error)
        }
    }

    /// Symlinks are recreated as they were; hard links point at their (restored) target.
    func makeLink(_ entry: ArchiveIndex.Entry, at path: FilePath, outcomes: Outcomes) -> FileOutcome {
        let target = entry.target ?? ArchivePath(bytes: [])
        do {
            try destination.makeParents(of: path)
            // Only a file or a link is ever replaced; a folder in the way (with someone's files) is left alone.
            let existing = try FileStatus.ifExists(path)
            if existing?.kind == .directory {
                return .failed("a folder is in the way: move \(path.displayString) aside and run again")
            }
            if entry.type == "symlink" {
                if existing?.kind == .symlink, (try? FileOperations.linkTarget(of: path)) == target.bytes { return .skipped }
                if existing != nil { try FileOperations.remove(path) }
                try FileOperations.makeSymlink(at: path, target: target.bytes)
                return .downloaded(bytes: 0, seconds: 0)
            }
            guard case .success(let targetPath) = destination.resolve(target) else {
                return .failed("refused: the hard link's target \(target) is outside the destination")
            }
            if let outcome = outcomes.get(target), !outcome.isSuccess { return .failed("its target \(target) failed") }
            if (try? FileReader.sha256(of: path)) == entry.sha256 { return .skipped }
            if existing != nil { try FileOperations.remove(path) }
            try FileOperations.makeHardLink(at: path, to: targetPath)
            return .downloaded(bytes: 0, seconds: 0)
        } catch {
            return .failed("cannot make the link: \((error as? Errno)?.description ?? "\(error)")")
        }
    }
}

/// A file to fetch from an archive: its index entry, where its bytes are, where it goes.
struct FetchFile: Sendable {
    let entry: ArchiveIndex.Entry
    let offset: Int
    let path: FilePath
    /// The permission bits to give it (the index's, less setuid/setgid/sticky unless asked).
    let mode: UInt32
    let damaged: Bool
}

/// One ranged GET: the bytes [start, end) of the archive and the files inside them, in order.
struct FetchRange: Sendable {
    var start: Int
    var end: Int
    var files: [FetchFile]
}

/// Each file's outcome, set by whichever worker finished it.
final class Outcomes: Sendable {
    private let byPath = Mutex<[ArchivePath: FileOutcome]>([:])
    func set(_ path: ArchivePath, _ outcome: FileOutcome) { byPath.withLock { $0[path] = outcome } }
    func get(_ path: ArchivePath) -> FileOutcome? { byPath.withLock { $0[path] } }
}
