import Foundation
import Synchronization

/// How s3-put sends data.
public struct UploadOptions: Sendable {
    public var partSize: Int = 16 << 20
    /// Requests in flight at once (parts, and with several files, objects).
    public var concurrency: Int = 4
    /// Bytes of parts held in memory at once; a part larger than its share (memory / concurrency) is spooled to
    /// an unnamed temporary file and sent from there. Never below one part of `partSize` per slot.
    public var memory: Int = UploadOptions.defaultMemory
    public static let defaultMemory = 1 << 30
    /// Objects that go in one PUT each (several files) in flight at once; nil: `concurrency`.
    public var objectConcurrency: Int?
    /// The threads that send; nil makes one of `concurrency` threads per multipart upload.
    public var engine: TransferEngine?
    /// Files up to this size go in one PUT; nil means "the part size".
    public var multipartThreshold: Int?
    public var object = ObjectOptions()
    /// Called once the input has ended, before the object is made visible (single PUT sent, multipart
    /// completed), with the bytes read, their SHA-256 and their CRC64NVME (each nil when a resumed upload did not
    /// read them all; the CRC also with `--checksum none`): throwing here stores nothing. Setting it makes the
    /// reader hash the stream.
    public var checkBeforeStoring: (@Sendable (Int, String?, CRC64NVME?) throws -> Void)?
    /// Whether `checkBeforeStoring` gets the stream's SHA-256 (nil otherwise): a second hash of every byte, not
    /// needed where the check compares the CRC64NVME the upload takes anyway.
    public var checkWithSHA256 = true
    /// Remembers uploads in progress (for resume) and their parts.
    public var catalog: Catalog?
    /// On failure, keep a multipart upload's parts for a later resume instead of aborting it.
    public var keepParts = false
    /// Unfinished uploads, so that a signal can abort them.
    public var active: ActiveUploads?
    public var progress: TransferProgress?
    /// Overwrite whatever is at the key (`--replace`). Off, every write is conditional (`If-None-Match: *` on
    /// the PUT and on the completion): an object with other bytes at the key ends the upload in
    /// `ObjectExists`, one with the same bytes makes the record `skipped`.
    public var replace = false
    public init() {}
}

/// Refused: another object is already at the key, and s3-put replaces nothing unless told to (`--replace`).
/// Nothing at the key was changed.
public struct ObjectExists: ReportableError {
    public let url: String
    /// The ETag of the object at the key.
    public let storedETag: String
    /// The ETag this input gives, with s3-put's part layout.
    public let inputETag: String

    public init(url: String, storedETag: String, inputETag: String) {
        self.url = url
        self.storedETag = storedETag
        self.inputETag = inputETag
    }

    public var exitStatus: ExitStatus { .objectExists }
    public var description: String {
        "\(url): another object is already there (ETag \(storedETag); this input gives \(inputETag)): nothing was changed; store it under another key, or give --replace to overwrite it"
    }
}

/// Sends one source (a file or standard input) to one key of a store, verified: every body carries its MD5,
/// and the ETag the store reports must equal the one computed here before the upload counts as done.
/// An interrupted upload of an unchanged file resumes from the parts the catalog and the store agree on.
public struct Uploader: Sendable {
    public let store: ObjectStore
    public let options: UploadOptions

    public init(store: ObjectStore, options: UploadOptions) {
        self.store = store
        self.options = options
    }

    public func upload(_ source: FileReader, to url: StorageURL, key: String) throws -> Record {
        let threshold = options.multipartThreshold ?? options.partSize
        if let size = source.size, size <= threshold {
            var buffer: [UInt8] = []
            let n = try source.read(into: &buffer, count: size)
            guard n == size else { throw Failure(.tryAgainLater, "\(source.path): the file shrank while it was read: is it still being written? try again later") }
            return try putSingle(buffer[..<n], url: url, key: key)
        }
        let layout = source.size.map { PartLayout.forFile(size: $0, preferred: options.partSize) }
            ?? PartLayout(partSize: options.partSize, doublingEvery: PartLayout.streamDoubling)
        return try putMultipart(source, layout: layout, url: url, key: key)
    }

    /// Stores bytes already in memory (an index, a small manifest) in one verified PUT.
    public func upload(bytes: [UInt8], to url: StorageURL, key: String) throws -> Record {
        try putSingle(bytes[...], url: url, key: key)
    }

    private func putSingle(_ body: ArraySlice<UInt8>, url: StorageURL, key: String) throws -> Record {
        let md5 = Digest.md5(body)
        let crc = options.object.checksum == .crc64nvme ? CRC64NVME.checksum(body) : nil
        if let check = options.checkBeforeStoring {
            try check(body.count, options.checkWithSHA256 ? Digest.sha256(body).hex : nil, crc)
        }
        let layout = PartLayout(partSize: max(body.count, 1))
        let written: WrittenObject
        do {
            written = try store.put(key, body: body, md5: md5, checksum: crc, options: options.object,
                                    ifAbsent: !options.replace)
        } catch let refusal as WriteNotApplied {
            let found = try settle(refusal, url: url, key: key, size: body.count, expected: md5.hex, checksum: crc)
            var result = record(url: url, key: key, size: body.count, etag: ETag.unquote(found.object.etag), layout: layout, parts: 1)
            if !found.ours { result.markSkipped(found.object) } else { result.checksumCRC64NVME = crc?.base64 }
            return result
        }
        options.progress?.add(bytes: body.count, parts: 1)
        let stored = try verifyWritten(written, expected: md5.hex, size: body.count, readBack: false, checksum: crc,
                                       url: url, key: key)
        var result = record(url: url, key: key, size: body.count, etag: stored, layout: layout, parts: 1)
        result.checksumCRC64NVME = crc?.base64
        return result
    }

    /// A write the store did not apply as asked: what is at the key decides. The bytes this upload sent (same
    /// size and ETag) are success: `ours` when this run's own unanswered attempt may have written them, not
    /// when they were there before (the record is `skipped`). Other bytes are a refusal (`ObjectExists`).
    /// An object whose ETag is no MD5 (KMS) is the same bytes when the CRC64NVME it keeps is the one sent.
    private func settle(_ refusal: WriteNotApplied, url: StorageURL, key: String, size: Int,
                        expected: String, checksum: CRC64NVME?) throws -> (ours: Bool, object: ObjectInfo) {
        guard let info = try store.head(key) else { throw refusal.underlying }
        let etag = ETag.unquote(info.etag)
        let same = info.etagIsMD5 ? etag == expected : checksum != nil && info.fullObjectCRC64NVME == checksum?.value
        if info.size == size, same { return (refusal.afterLostAnswer, info) }
        guard refusal.reason == .keyTaken else { throw refusal.underlying }
        throw ObjectExists(url: url.description, storedETag: etag, inputETag: expected)
    }

    /// The final checks on an object already visible at the key: the ETag the write answered with and, when
    /// `readBack`, what a HEAD then says. When one fails, what was written is deleted (only the version written,
    /// on a bucket that keeps versions), so that no false object stays where a good one is looked for.
    /// An ETag that is no MD5 (KMS, asked for or the bucket's default) says nothing of the bytes: the HEAD's
    /// CRC64NVME, the one sent, is the check then.
    private func verifyWritten(_ written: WrittenObject, expected: String, size: Int, readBack: Bool,
                               checksum: CRC64NVME? = nil, url: StorageURL, key: String) throws -> String {
        do {
            let stored = try confirm(written, expected: expected, url: url)
            if readBack || !written.etagIsMD5 {
                guard let info = try store.head(key), info.size == size, ETag.unquote(info.etag) == stored else {
                    throw Failure.check("\(url): after the upload the store reports a different size or ETag than was sent")
                }
                // A store that keeps no checksum says nothing; one that keeps another is a different object.
                if let checksum, let kept = info.fullObjectCRC64NVME, kept != checksum.value {
                    throw Failure.check("\(url): after the upload the store reports CRC64NVME \(info.checksumCRC64NVME ?? ""), but the data sent gives \(checksum.base64)")
                }
            }
            return stored
        } catch let failure as Failure where failure.exitStatus == .checkFailed {
            do {
                try store.delete(key, versionID: written.versionID)
            } catch {
                // A version under Object Lock (COMPLIANCE, a legal hold) cannot be deleted before its date; a
                // delete marker still takes it out of sight, so nothing false is what a reader of the key gets.
                guard written.versionID != nil, (try? store.delete(key, versionID: nil)) != nil else {
                    throw Failure.check("\(failure.message); deleting what was written failed too (\(Failure.describing(error))): delete \(url) before trusting it")
                }
                throw Failure.check("\(failure.message): the version written is locked (\(Failure.describing(error))), so a delete marker now hides it")
            }
            throw Failure.check("\(failure.message): the object written was deleted")
        }
    }

    /// Parts are read on this thread while the engine's workers hash and send them; a bounded pool of slots
    /// (one part each) holds the reader back, so at most `slots` parts exist at once: in memory up to the
    /// part's share of the memory budget, spooled to a temporary file beyond it. Files are read at their parts'
    /// offsets, so a resumed upload reads only missing parts; a stream is read in order, and one that ends
    /// within its first part goes as a single PUT.
    private func putMultipart(_ source: FileReader, layout: PartLayout, url: StorageURL, key: String) throws -> Record {
        // A stream needs two parts in hand before it knows it is multipart, whatever the concurrency.
        let reader = PartReader(source: source, budget: MemoryBudget(options, isStream: source.size == nil),
                                streamDigest: options.checkBeforeStoring == nil || !options.checkWithSHA256 ? nil : Digest(.sha256),
                                checksums: options.object.checksum == .crc64nvme)
        var streamStart: [ReadPart] = []
        if source.size == nil {
            let first = try reader.read(number: 1, length: layout.size(ofPart: 1), offset: nil)
            if first.count < layout.size(ofPart: 1) { return try putSingle(first.bytes, url: url, key: key) }
            let second = try reader.read(number: 2, length: layout.size(ofPart: 2), offset: nil)
            if second.count == 0 {
                second.giveBack(to: reader.pool)
                return try putSingle(first.bytes, url: url, key: key)
            }
            streamStart = [first, second]
        }

        let fingerprint = source.fingerprint
        let state = MultipartState()
        let (uploadID, resumed) = try startOrResume(url: url, key: key, layout: layout, fingerprint: fingerprint)
        for (number, part) in resumed { state.finish(number, md5: part.md5, size: part.size, checksum: nil) }
        options.active?.register(store: store, key: key, uploadID: uploadID, resumable: fingerprint != nil)
        defer { options.active?.unregister(uploadID) }

        let engine = options.engine ?? TransferEngine(concurrency: options.concurrency)
        let batch = engine.batch()
        let sender = PartSender(store: store, key: key, uploadID: uploadID, url: url, options: options, state: state)
        func send(_ part: ReadPart) {
            batch.submit { [pool = reader.pool] in
                sender.send(part)
                part.giveBack(to: pool)
            }
        }

        do {
            if let size = source.size {
                try readFile(reader, size: size, layout: layout, resumed: resumed, state: state, send: send)
            } else {
                try readStream(reader, layout: layout, start: streamStart, state: state, send: send)
            }
            batch.wait()
            if let error = state.error { throw error }
            return try complete(source, fingerprint: fingerprint, uploadID: uploadID, resumed: resumed, state: state,
                                streamDigest: reader.streamDigest, layout: layout, url: url, key: key)
        } catch {
            batch.wait()
            if !options.keepParts || source.size == nil || error is ObjectExists {
                abortUpload(uploadID, key: key, url: url.description, store: store, catalog: options.catalog)
            }
            throw error
        }
    }

    /// A file's parts at their offsets, but those a resumed upload already holds.
    private func readFile(_ reader: PartReader, size: Int, layout: PartLayout, resumed: [Int: (md5: [UInt8], size: Int)],
                          state: MultipartState, send: (ReadPart) -> Void) throws {
        let parts = layout.parts(total: size)
        options.progress?.start(totalBytes: size, totalParts: parts.count)
        options.progress?.add(bytes: resumed.values.reduce(0) { $0 + $1.size }, parts: resumed.count)
        for part in parts where resumed[part.number] == nil {
            if state.failed { break }
            let read = try reader.read(number: part.number, length: part.length, offset: part.offset)
            guard read.count == part.length else {
                read.giveBack(to: reader.pool)
                throw Failure(.tryAgainLater, "\(reader.source.path): the file shrank while it was read: is it still being written? try again later")
            }
            send(read)
        }
    }

    /// A stream's parts in order, their sizes doubling as the layout says, until it ends.
    private func readStream(_ reader: PartReader, layout: PartLayout, start: [ReadPart], state: MultipartState,
                            send: (ReadPart) -> Void) throws {
        options.progress?.start(totalBytes: nil, totalParts: nil)
        for part in start { send(part) }
        var number = 2
        var lastCount = start[1].count
        while lastCount == layout.size(ofPart: number), !state.failed {
            number += 1
            guard number <= PartLayout.maxParts else {
                throw Failure.usage("\(reader.source.path): more than \(PartLayout.maxParts) parts: raise --part-size")
            }
            let read = try reader.read(number: number, length: layout.size(ofPart: number), offset: nil)
            lastCount = read.count
            if lastCount == 0 {
                read.giveBack(to: reader.pool)
                break
            }
            send(read)
        }
    }

    /// Every part is stored: the input is checked (unchanged file, the caller's check), the parts joined, and the
    /// object the store then describes compared with what was sent.
    private func complete(_ source: FileReader, fingerprint: SourceFingerprint?, uploadID: String,
                          resumed: [Int: (md5: [UInt8], size: Int)], state: MultipartState, streamDigest: Digest?,
                          layout: PartLayout, url: StorageURL, key: String) throws -> Record {
        if let size = source.size, let now = try? FileReader(path: source.path).fingerprint,
           now.size != size || now.modified != fingerprint?.modified {
            throw Failure(.tryAgainLater, "\(source.path): the file changed while it was uploaded, and nothing was stored: is it still being written? try again later")
        }
        // Parts a resumed upload found stored were checksummed by the run that sent them, not read by this one:
        // S3 then computes the whole object's CRC64NVME from theirs, and this run has none of its own to send.
        let crc = state.wholeChecksum()
        try options.checkBeforeStoring?(state.totalSize, resumed.isEmpty ? streamDigest?.finish().hex : nil, crc)
        let digests = state.digestsInOrder()
        let expected = ETag.combine(digests)
        var result = record(url: url, key: key, size: state.totalSize, etag: expected, layout: layout, parts: digests.count)
        if !resumed.isEmpty { result.resumedParts = resumed.count }
        let written: WrittenObject
        do {
            written = try store.completeMultipart(key, uploadID: uploadID, parts: state.partETagsInOrder(),
                                                  checksum: crc, ifAbsent: !options.replace)
        } catch let refusal as WriteNotApplied {
            let found = try settle(refusal, url: url, key: key, size: state.totalSize, expected: expected, checksum: crc)
            result.etag = ETag.unquote(found.object.etag)
            if found.ours {
                try? options.catalog?.uploadEnded(uploadID, state: "completed")
                result.checksumCRC64NVME = crc?.base64
                return result
            }
            // The same bytes were there before: this upload is not needed. A failed abort leaves the row for
            // the next run to clear.
            abortUpload(uploadID, key: key, url: url.description, store: store, catalog: options.catalog)
            result.markSkipped(found.object)
            return result
        }
        try? options.catalog?.uploadEnded(uploadID, state: "completed")
        // The object as the store now describes it must be the object we sent.
        result.etag = try verifyWritten(written, expected: expected, size: state.totalSize, readBack: true, checksum: crc,
                                        url: url, key: key)
        result.checksumCRC64NVME = crc?.base64
        return result
    }

    /// An unfinished upload of the same unchanged file to the same place is continued: the parts that both the
    /// catalog and the store hold (same number, size and MD5) count as sent. Anything else starts afresh.
    private func startOrResume(url: StorageURL, key: String, layout: PartLayout, fingerprint: SourceFingerprint?)
        throws -> (String, [Int: (md5: [UInt8], size: Int)]) {
        if let catalog = options.catalog, let fingerprint,
           let previous = try catalog.resumableUpload(url: url.description, source: fingerprint, layout: layout),
           let stored = try store.listParts(key, uploadID: previous.uploadID) {
            var resumed: [Int: (md5: [UInt8], size: Int)] = [:]
            for part in stored {
                if let known = previous.parts[part.number], known.md5 == part.etag, known.size == part.size,
                   part.size == layout.size(ofPart: part.number) || part.number == layout.parts(total: fingerprint.size).count {
                    resumed[part.number] = (ETag.bytes(ofHex: known.md5), part.size)
                }
            }
            return (previous.uploadID, resumed)
        }
        var object = options.object
        // The part layout travels with the object, so its ETag can be recomputed years later.
        object.metadata[PartLayout.partSizeKey] = String(layout.partSize)
        if let every = layout.doublingEvery { object.metadata[PartLayout.doublingKey] = String(every) }
        let uploadID = try store.startMultipart(key, options: object)
        var bucket: String?
        if case .s3(let b, _) = url { bucket = b }
        do {
            try options.catalog?.uploadStarted(uploadID, url: url.description, bucket: bucket, key: key,
                                               source: fingerprint, layout: layout)
        } catch {
            // An upload the catalog does not list is one no later run would find: aborted now, never left billed.
            abortUpload(uploadID, key: key, url: url.description, store: store, catalog: nil)
            throw error
        }
        return (uploadID, [:])
    }

    /// The ETag the store reported must be the one the data gives; with KMS encryption S3's ETag is no MD5,
    /// and the per-request Content-MD5 checks stand alone.
    private func confirm(_ written: WrittenObject, expected: String, url: StorageURL) throws -> String {
        let got = ETag.unquote(written.etag)
        guard options.object.etagIsMD5, written.etagIsMD5 else { return got.isEmpty ? expected : got }
        guard got == expected else {
            throw Failure.check("\(url): the store reports ETag \(got.isEmpty ? "(none)" : got), but the data sent gives \(expected)")
        }
        return got
    }

    private func record(url: StorageURL, key: String, size: Int, etag: String, layout: PartLayout, parts: Int) -> Record {
        var bucket: String?
        if case .s3(let b, _) = url { bucket = b }
        return Record(url: url.description, bucket: bucket, key: url.key, size: size, etag: etag, layout: layout,
                      parts: parts, storageClass: options.object.storageClass ?? "STANDARD")
    }
}

private extension Record {
    /// The object was there before, identical: its record says so, with the class it is stored in.
    mutating func markSkipped(_ object: ObjectInfo) {
        skipped = true
        storageClass = object.storageClass
    }
}

/// What the part workers report back: each part's MD5, CRC64NVME and size, or the first error.
final class MultipartState: Sendable {
    private struct Parts {
        var digests: [Int: [UInt8]] = [:]
        /// The ETags the store gave parts where they are no MD5 (KMS): the completion must name them so.
        var storedETags: [Int: String] = [:]
        /// nil for a part sent without a checksum (or by an earlier run).
        var checksums: [Int: CRC64NVME?] = [:]
        var bytes = 0
        var firstError: Error?
    }
    private let parts = Mutex(Parts())

    var failed: Bool { parts.withLock { $0.firstError != nil } }
    var error: Error? { parts.withLock { $0.firstError } }
    var totalSize: Int { parts.withLock { $0.bytes } }

    func finish(_ number: Int, md5: [UInt8], size: Int, checksum: CRC64NVME?, storedETag: String? = nil) {
        parts.withLock {
            $0.digests[number] = md5
            $0.storedETags[number] = storedETag
            $0.checksums[number] = checksum
            $0.bytes += size
        }
    }

    func fail(_ error: Error) { parts.withLock { if $0.firstError == nil { $0.firstError = error } } }

    /// The whole object's CRC64NVME from its parts' in order; nil unless every part has one.
    func wholeChecksum() -> CRC64NVME? {
        parts.withLock { parts in
            let inOrder = parts.checksums.keys.sorted().map { parts.checksums[$0] ?? nil }
            guard !inOrder.isEmpty, inOrder.allSatisfy({ $0 != nil }) else { return nil }
            return CRC64NVME.combine(inOrder.compactMap { $0 })
        }
    }

    func digestsInOrder() -> [[UInt8]] { parts.withLock { parts in parts.digests.keys.sorted().map { parts.digests[$0]! } } }

    /// Each part as the completion names it: the ETag the store gave it, which is its MD5 but under KMS.
    func partETagsInOrder() -> [(number: Int, etag: String)] {
        parts.withLock { parts in
            parts.digests.keys.sorted().map { ($0, parts.storedETags[$0] ?? parts.digests[$0]!.hex) }
        }
    }
}
