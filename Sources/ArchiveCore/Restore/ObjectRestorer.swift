import Foundation
import SystemPackage

/// Restores objects that are one file each (the raw-file layout): the object's ETag is the expected hash.
struct ObjectRestorer {
    let store: ObjectStore
    let destination: Destination
    let request: RestoreRequest
    let warn: @Sendable (String) -> Void

    /// Each file's outcome, in order, and how many objects are in cold storage and not readable yet (their lines
    /// say so): the readable ones are fetched meanwhile.
    func run(_ items: [(key: String, relativePath: String, info: ObjectInfo?)]) throws
        -> (files: [(path: String, outcome: FileOutcome)], pending: Int) {
        var results: [(path: String, outcome: FileOutcome)] = []
        var needed: [Needed] = []
        var thrown: Error?
        // Each object is looked at (HEAD, and the local file's ETag) side by side, the answers taken in order.
        let engine = TransferEngine(concurrency: min(request.concurrency, max(1, items.count)))
        engine.map(items.map { Item(key: $0.key, relativePath: $0.relativePath, info: $0.info) }, { item in
            prepare(item)
        }, shouldContinue: { thrown == nil }) { _, prepared in
            guard thrown == nil else { return }
            switch prepared {
            case .decided(let path, let outcome): results.append((path, outcome))
            case .needed(let item):
                if request.dryRun {
                    warn("(dry run) would fetch \(store.url(of: item.key)) (\(ByteSize.format(item.info.size))) to \(item.path)")
                }
                needed.append(item)
            case .failed(let error): thrown = error
            }
        }
        if let thrown { throw thrown }
        // Every cold object is asked to thaw before any is waited for. Those the HEAD above found readable need
        // no second look: thousands of small objects would otherwise be asked about twice, one at a time.
        let frozen = needed.filter { !$0.info.isReadable }.map(\.key)
        let thawing = Set(try ensureReadable(store, keys: frozen, request: request, warn: warn))
        for item in needed where thawing.contains(item.key) {
            results.append((item.relativePath, .failed("not readable yet: being restored from \(item.info.storageClass); run the same command again later")))
        }
        if request.dryRun { return (results, thawing.count) }
        let readable = needed.filter { !thawing.contains($0.key) }
        if !readable.isEmpty { request.progress?.start(totalBytes: readable.reduce(0) { $0 + $1.info.size }, totalItems: readable.count) }
        defer { if !readable.isEmpty { request.progress?.finish(leavingSummary: true) } }
        // Objects come down side by side, `concurrency` at once, their outcomes kept in the listing's order.
        var fetched: [(line: Int, path: String)] = []
        engine.map(readable, { item in
            fetch(item.key, info: item.info, to: item.path, damaged: item.damaged)
        }) { position, outcome in
            if outcome.isSuccess { fetched.append((results.count, readable[position].path)) }
            results.append((readable[position].relativePath, outcome))
            request.progress?.add(bytes: 0, items: 1)
        }
        flushFetched(fetched, results: &results)
        return (results, thawing.count)
    }

    /// The files are renamed into place unflushed; one checked flush of the destination's file system (syncfs)
    /// then makes them durable, as for an archive's files (ArchiveRestorer.flushFetched). A flush that fails fails
    /// every file fetched here, each removed where it can be, so that the next run fetches it again rather than
    /// trusting bytes that may only be in memory; the report is still written, the other sources still restored.
    private func flushFetched(_ fetched: [(line: Int, path: String)], results: inout [(path: String, outcome: FileOutcome)]) {
        guard !fetched.isEmpty else { return }
        do { try destination.flush() } catch {
            let reason = "\(destination.root): cannot flush the restored files to disk: \((error as? Errno)?.description.lowercased() ?? "\(error)"): run again"
            for file in fetched {
                try? FileOperations.remove(FilePath(file.path))
                results[file.line].outcome = .failed(reason)
            }
        }
    }

    struct Item: Sendable {
        var key: String
        var relativePath: String
        var info: ObjectInfo?
    }

    struct Needed: Sendable {
        var key: String
        var relativePath: String
        var info: ObjectInfo
        var path: String
        var damaged: Bool
    }

    enum Prepared: Sendable {
        case decided(String, FileOutcome)
        case needed(Needed)
        case failed(Error)
    }

    /// Whether one object must be fetched: refused paths and missing objects are decided, as is a local file
    /// that already gives the object's ETag.
    func prepare(_ item: Item) -> Prepared {
        let path: String
        switch destination.resolve(item.relativePath) {
        case .failure(let refusal): return .decided(item.relativePath, .failed(refusal.description))
        case .success(let resolved): path = resolved
        }
        do {
            guard let info = try item.info.flatMap({ $0.metadata.isEmpty && $0.restore == nil ? nil : $0 }) ?? store.head(item.key) else {
                return .decided(item.relativePath, .failed("no such object"))
            }
            // Only a regular file is read: a FIFO or a device at the file's place is replaced, never opened.
            let existing = (try? FileReader.regularFile(at: path)) ?? nil
            if let existing, existing.size == info.size, (try? matches(existing, info)) == true {
                return .decided(item.relativePath, .skipped)
            }
            return .needed(Needed(key: item.key, relativePath: item.relativePath, info: info, path: path, damaged: existing != nil))
        } catch let refusal as CustomerKeyRefusal {
            // That file's failure: the prefix's other objects may need no key.
            return .decided(item.relativePath, .failed(refusal.reason))
        } catch {
            return .failed(error)
        }
    }

    /// The part layout the object records (s3-put's metadata), a single-part ETag implies, or the server gives
    /// (its first part); nil when only trying part sizes can tell.
    func knownLayout(_ info: ObjectInfo) throws -> PartLayout? {
        try store.partLayout(of: info)
    }

    /// A local file is intact when it gives the object's ETag, with the part size the object records or implies;
    /// where that ETag is no MD5 (SSE-KMS, SSE-C), when it gives the CRC64NVME the store keeps.
    func matches(_ reader: FileReader, _ info: ObjectInfo) throws -> Bool {
        if !info.etagIsMD5 {
            guard let stored = info.fullObjectCRC64NVME else { return false }
            return try CRC64NVME.checksum(of: reader).value == stored
        }
        if let layout = try knownLayout(info) { return try ETag.compute(reader, layout: layout) == info.etag }
        return try ETag.findPartSize(reader, matching: info.etag, maxCandidates: 16) != nil
    }

    func fetch(_ key: String, info: ObjectInfo, to path: String, damaged: Bool) -> FileOutcome {
        let started = Date()
        do {
            try destination.makeParents(of: path)
            let writer = try AtomicFileWriter(path: path, createDirectories: false)
            var size = 0
            // With a known layout the ETag is taken from the bytes as they arrive; otherwise the file is read back
            // and part sizes tried. The CRC64NVME the store keeps is checked too, and alone where the ETag is no
            // MD5 (SSE-KMS, SSE-C).
            let stored = info.fullObjectCRC64NVME
            guard info.etagIsMD5 || stored != nil else {
                return .failed("its ETag is no MD5 (SSE-KMS or SSE-C) and the store keeps no CRC64NVME for it: its bytes cannot be checked, so none were written")
            }
            let layout = info.etagIsMD5 ? try knownLayout(info) : nil
            let streaming = layout.map { StreamingETag(layout: $0) }
            var crc = CRC64NVME()
            try store.download(key, range: nil, ifMatch: info.etag) { chunk in
                streaming?.update(chunk)
                if stored != nil { crc.update(chunk) }
                try writer.write(chunk)
                size += chunk.count
                request.progress?.add(bytes: chunk.count)
            }
            if let stored, crc.value != stored {
                writer.discard()
                return .failed("CRC64NVME mismatch after download: the bytes give \(crc.base64), the store keeps \(CRC64NVME(value: stored, count: 0).base64)")
            }
            let intact = try !info.etagIsMD5 || (streaming.map { $0.finish() == info.etag } ?? matches(writer.readBack(), info))
            guard size == info.size, intact else {
                writer.discard()
                return .failed("ETag mismatch after download: the object's bytes do not give its ETag \(info.etag)")
            }
            try writer.setAttributes(mode: nil, mtime: info.lastModified?.timeIntervalSince1970)
            try writer.commit(durable: false)
            return damaged ? .healed(reason: "ETag mismatch") : .downloaded(bytes: size, seconds: Date().timeIntervalSince(started))
        } catch {
            return .failed("\(error)")
        }
    }
}
