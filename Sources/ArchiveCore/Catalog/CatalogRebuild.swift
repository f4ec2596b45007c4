import Foundation
import GRDB

/// What `s3-report rebuild` is asked: the archives under `url` into the catalog at `catalogPath`.
public struct RebuildRequest: Sendable {
    /// `s3://bucket/prefix` or `file:///path/prefix`: every archive whose key starts with it.
    public var url: String
    public var catalogPath: String
    public var s3: S3Configuration.Overrides
    /// Archives read at once (requests in flight).
    public var concurrency = 8
    /// Where the sessions are now: a session whose recorded directory is not under it is matched by its year
    /// folder and name with a session folder of ROOT (data moved, a new host), whose path is recorded instead.
    public var root: String?

    public init(url: String, catalogPath: String, s3: S3Configuration.Overrides) {
        self.url = url
        self.catalogPath = catalogPath
        self.s3 = s3
    }
}

/// What a rebuild found and did, counted in archives.
public struct RebuildSummary: Sendable {
    public var url: String
    /// Archives under the URL: objects with an index beside them.
    public var found = 0
    /// Recorded now: the catalog did not hold them.
    public var added = 0
    /// The catalog held other bytes at the URL (another ETag): the store's archive replaced that record.
    public var replaced = 0
    /// Already in the catalog with the same ETag: left as they were, not read.
    public var known = 0
    /// Left out: the index is damaged, unreadable, or not of the archive beside it (each said on stderr).
    public var skipped = 0
    /// Requests sent: the listing's pages are not counted, the reads of each archive not yet known are.
    public var requests = 0
    public var seconds = 0.0

    /// One row, for s3-report to print.
    public var table: Table {
        var table = Table(columns: ["archives", "added", "replaced", "known", "skipped", "requests", "seconds"],
                          numeric: ["archives", "added", "replaced", "known", "skipped", "requests", "seconds"],
                          title: "Rebuilt from \(url)")
        table.rows.append([found, added, replaced, known, skipped, requests].map(String.init)
                          + [String(format: "%.2f", seconds)])
        return table
    }
}

/// Recreates the catalog's archives from a store: every object under the URL that has an index beside it
/// (`KEY.index.json`) becomes the objects, archives and archive_files rows s3-put would have written, with the
/// session's directory as the index recorded it (`source`), so that the sessions view of the same ROOT, and the
/// nightly batch, find every session backed up. Each index is checked against what the store keeps of it
/// before it is trusted, and against the archive beside it; a bad one is said through `warn` and skipped.
/// Merges: what the catalog already holds with the same ETag is neither read nor changed, so a second run
/// changes nothing. Runs under the catalog's per-URL locks, as s3-put does, so that it never records an archive
/// that an s3-put is writing at that moment.
public func rebuildCatalog(_ request: RebuildRequest, warn: @escaping @Sendable (String) -> Void) throws -> RebuildSummary {
    let started = Date()
    let base = try StorageURL(parsing: request.url)
    let (store, prefix) = try Storage.open(base) { try S3Configuration.resolve(request.s3) }
    let listing = try store.list(prefix: prefix)
    let found = StoredArchives(listing)
    for orphan in found.orphanIndexes { warn("\(base.with(key: orphan)): an index with no archive beside it: skipped") }
    // A mistyped prefix must not leave an empty catalog that looks rebuilt.
    guard !found.archives.isEmpty else {
        throw Failure.noInput("\(base): no archive there (an object with KEY.index.json beside it): check the URL")
    }

    let places = try request.root.map { try SessionPlaces(root: $0) }
    let catalog = try Catalog(path: request.catalogPath)
    defer { catalog.close() }
    var summary = RebuildSummary(url: request.url)
    summary.found = found.archives.count
    let toRead = found.archives.filter(isNew(in: try catalog.sayingBusy { try catalog.archiveETags() }, base: base))
    summary.known = found.archives.count - toRead.count
    let locks = try DestinationLocks.acquire(toRead.map { base.with(key: $0.object.key).description }, catalog: catalog,
                                             waiting: warn)
    defer { locks.release() }
    var pending: [RebuiltArchive] = []
    var thrown: Error?
    func flush() throws {
        let counts = try catalog.sayingBusy { try catalog.recordRebuilt(pending) }
        summary.added += counts.added
        summary.replaced += counts.replaced
        pending.removeAll(keepingCapacity: true)
    }
    let engine = TransferEngine(concurrency: request.concurrency)
    engine.map(toRead, { RebuiltArchive.read($0, from: store, base: base) }, shouldContinue: { thrown == nil }) { _, outcome in
        guard thrown == nil else { return }
        summary.requests += outcome.requests
        switch outcome.result {
        case .success(var archive?):
            if let places { archive.sessionPath = places.path(for: archive.sessionPath) }
            pending.append(archive)
            if pending.count >= 200 { do { try flush() } catch { thrown = error } }
        case .success(nil):
            break
        case .failure(let error):
            if let bad = error as? ReportableError, bad.exitStatus == .dataError {
                warn(bad.description)
                summary.skipped += 1
            } else {
                thrown = error
            }
        }
    }
    if let thrown { throw thrown }
    try flush()
    summary.seconds = Date().timeIntervalSince(started)
    return summary
}

/// True for an archive the catalog does not hold at its URL with the same ETag (`known`: URL → ETag).
private func isNew(in known: [String: String], base: StorageURL) -> (StoredArchives.Archive) -> Bool {
    { known[base.with(key: $0.object.key).description] != $0.object.etag }
}

/// The archives a listing holds: each object with `KEY.index.json` beside it, with the generation its key is of
/// the session's first archive (`S.gen2.tar` beside `S.tar`), and the indexes that have no archive.
struct StoredArchives {
    struct Archive: Sendable {
        var object: ObjectInfo
        /// The index beside it, as listed.
        var index: ObjectInfo
        var generation: Int
    }

    var archives: [Archive] = []
    var orphanIndexes: [String] = []

    init(_ listing: [ObjectInfo]) {
        let suffix = ".index.json"
        let byKey = Dictionary(listing.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
        let keys = Set(byKey.keys)
        for object in listing {
            if object.key.hasSuffix(suffix) {
                if !keys.contains(String(object.key.dropLast(suffix.count))) { orphanIndexes.append(object.key) }
            } else if let index = byKey[object.key + suffix] {
                archives.append(Archive(object: object, index: index, generation: Self.generation(of: object.key, among: keys)))
            }
        }
    }

    /// A key reads as generation N (`S.genN.tar`, `S.genN`) only when the first generation it would belong to
    /// is stored too: s3-put makes a generation beside its first archive, and a session named `X.gen2` stays one.
    static func generation(of key: String, among keys: Set<String>) -> Int {
        let name = key.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init) ?? key
        var start = name.startIndex
        while let marker = name.range(of: ".gen", range: start..<name.endIndex) {
            let digits = name[marker.upperBound...].prefix { $0.isASCII && $0.isNumber }
            if let number = Int(digits), number >= 2, let first = Generation.firstKey(of: key, number: number),
               keys.contains(first) {
                return number
            }
            start = marker.upperBound
        }
        return 1
    }
}

/// One archive read back from the store for the catalog: its record as s3-put would have written it, its index,
/// when it was stored, and its restore state.
struct RebuiltArchive: Sendable {
    var record: Record
    var index: ArchiveIndex
    var storedAt: Double
    var restore: String?
    /// The session's directory: the index's `source`, unless a ROOT given places the session elsewhere.
    var sessionPath: String?

    /// What reading one archive gave: the archive (nil when it went between the listing and the reads), or the
    /// error; and the requests it took.
    struct Outcome: Sendable {
        var result: Result<RebuiltArchive?, Error>
        var requests: Int
    }

    /// The index (checked against what the store keeps of it), then the archive's own HEAD: its part layout,
    /// class and restore state, and its size and CRC64NVME, which must be the ones the index describes.
    static func read(_ found: StoredArchives.Archive, from store: ObjectStore, base: StorageURL) -> Outcome {
        let url = base.with(key: found.object.key)
        let indexKey = found.object.key + ".index.json"
        var requests = 0
        do {
            requests += 1
            var bytes = try store.get(indexKey, range: nil)
            // s3-put stores an index in one PUT: the listing's ETag is the MD5 the store keeps of its bytes, the
            // check s3-restore makes, without a HEAD. Any other answer (an ETag that is no MD5: SSE-KMS; the
            // object replaced since the listing) is settled as s3-restore settles it, from a read and a HEAD.
            if !(found.index.size == bytes.count && ETag.partCount(found.index.etag) == nil
                 && Digest.md5(bytes).hex == found.index.etag) {
                requests += 2
                bytes = try ArchiveIndex.fetchChecked(indexKey, in: store, archiveURL: url.description,
                                                      consequence: "skipped; run again, and if it persists, s3-verify the archive")
            }
            let index = try ArchiveIndex.decode(Data(bytes), source: url.description + ".index.json")
            requests += 1
            guard let head = try store.head(found.object.key) else { return Outcome(result: .success(nil), requests: requests) }
            if let problem = mismatch(index, head) {
                throw Failure(.dataError, "\(url).index.json: not the index of the archive beside it (\(problem)): skipped")
            }
            if head.recordedLayout == nil, ETag.partCount(head.etag) != nil { requests += 1 }
            let layout = try store.partLayout(of: head) ?? PartLayout(partSize: 0)
            var record = Record(url: url.description, bucket: url.bucket, key: url.key, size: head.size, etag: head.etag,
                                layout: layout, parts: ETag.partCount(head.etag) ?? 1, storageClass: head.storageClass)
            record.sha256 = index.archive.sha256
            record.session = index.session
            record.index = url.description + ".index.json"
            record.generation = found.generation > 1 ? found.generation : nil
            record.checksumCRC64NVME = head.checksumCRC64NVME
            let stored = found.object.lastModified ?? head.lastModified ?? Date()
            return Outcome(result: .success(RebuiltArchive(record: record, index: index, storedAt: stored.timeIntervalSince1970,
                                                           restore: head.isCold ? head.restore : nil,
                                                           sessionPath: index.source)),
                           requests: requests)
        } catch {
            return Outcome(result: .failure(error), requests: requests)
        }
    }

    /// Why the index does not describe the stored archive, or nil when it does (size, and CRC64NVME where both
    /// the index and the store have one).
    static func mismatch(_ index: ArchiveIndex, _ archive: ObjectInfo) -> String? {
        if index.archive.size != archive.size {
            return "it describes \(index.archive.size) bytes, the archive holds \(archive.size)"
        }
        if let stored = archive.fullObjectCRC64NVME, let recorded = index.archive.crc64nvme,
           CRC64NVME.value(base64: recorded) != stored {
            return "its CRC64NVME is \(recorded), the archive's \(archive.checksumCRC64NVME ?? "")"
        }
        return nil
    }
}

/// The session folders under a ROOT, by path, and by year folder and name (`2024/S`, or `/S` straight under ROOT).
struct SessionPlaces {
    var paths: Set<String>
    var byTail: [String: String]

    init(root: String) throws {
        let places = try SessionFinder.places(root: root)
        paths = Set(places.map(\.path))
        byTail = Dictionary(places.map { (($0.year ?? "") + "/" + $0.name, $0.path) }, uniquingKeysWith: { first, _ in first })
    }

    /// `recorded` when it is one of ROOT's sessions or matches none; else the session folder of ROOT with the
    /// same year folder and name. An index without a directory stays without: such archives match by name.
    func path(for recorded: String?) -> String? {
        guard let recorded, !paths.contains(recorded) else { return recorded }
        let parts = recorded.split(separator: "/").map(String.init)
        guard let name = parts.last else { return recorded }
        let parent = parts.dropLast().last ?? ""
        let year = parent.count == 4 && parent.allSatisfy(\.isNumber) ? parent : ""
        return byTail[year + "/" + name] ?? recorded
    }
}

extension Catalog {
    /// Every archive the catalog holds, URL → ETag.
    func archiveETags() throws -> [String: String] {
        try database.read { db in
            var etags: [String: String] = [:]
            let rows = try Row.fetchCursor(db, sql: "SELECT o.url, o.etag FROM objects o JOIN archives a ON a.url = o.url")
            while let row = try rows.next() { etags[row[0]] = row[1] }
            return etags
        }
    }

    /// Records archives read back from the store, in one transaction. A URL the catalog holds with another ETag
    /// is replaced; one it holds with the same ETag keeps its row (its source, its time) and gains what the index
    /// adds. Returns how many were added and how many replaced. Each statement is prepared once per connection
    /// (`cachedStatement`): preparing one that writes objects or archives compiles their triggers
    /// (v5-status-counts) and walks GRDB's authorizer, a fifth of a rebuild's CPU when done for each archive.
    func recordRebuilt(_ archives: [RebuiltArchive]) throws -> (added: Int, replaced: Int) {
        guard !archives.isEmpty else { return (0, 0) }
        return try database.write { db in
            var added = 0, replaced = 0
            for archive in archives {
                let record = archive.record
                try db.cachedStatement(sql: "DELETE FROM objects WHERE url = ? AND etag != ?").execute(arguments: [record.url, record.etag])
                if db.changesCount > 0 { replaced += 1 }
                try db.cachedStatement(sql: """
                    INSERT OR IGNORE INTO objects (url, bucket, key, size, etag, part_size, parts, part_size_doubling_every,
                        storage_class, sha256, session, index_url, stored_at, restore) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """).execute(arguments: [record.url, record.bucket, record.key, record.size, record.etag, record.partSize,
                                     record.parts, record.partSizeDoublingEvery, record.storageClass, record.sha256,
                                     record.session, record.index, archive.storedAt, archive.restore])
                try db.cachedStatement(sql: """
                    UPDATE objects SET sha256 = COALESCE(sha256, ?), session = COALESCE(session, ?),
                        index_url = COALESCE(index_url, ?) WHERE url = ?
                    """).execute(arguments: [record.sha256, record.session, record.index, record.url])
                let generation = record.generation ?? 1
                let index = archive.index
                try db.cachedStatement(sql: """
                    INSERT OR IGNORE INTO archives (url, session, session_path, files, bytes, newest_mtime, sha256,
                        index_url, stored_at, generation, first_url) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """).execute(arguments: [record.url, index.session, archive.sessionPath, index.files, index.bytes, index.newestMtime,
                                     index.archive.sha256 ?? "", record.index, archive.storedAt, generation,
                                     Self.firstURL(of: record.url, generation: generation)])
                if db.changesCount > 0 {
                    try Self.recordFiles(of: index, url: record.url, in: db)
                    added += 1
                }
            }
            return (added - replaced, replaced)
        }
    }

    /// The columns refresh keeps up to date: the restore state of a cold object (S3's `x-amz-restore`), and
    /// when the store was last asked.
    static func registerRefreshColumns(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v3-refresh") { db in
            try db.execute(sql: """
                ALTER TABLE objects ADD COLUMN restore TEXT;
                ALTER TABLE objects ADD COLUMN refreshed_at REAL;
                """)
        }
    }
}
